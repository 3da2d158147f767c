"""Train the toy VLM shipped in pixelshap_eval/assets/toy_vlm, from a seed, on a CPU.

The recipe and its determinism are described in `pixelshap_eval.toy.training`. One thread
(`--threads 1`, the default) is both the reproducible setting and the fastest one on a
shared 2-core machine: with two OpenMP threads competing with other processes, a step was
measured 5-8x slower than with one.

    python scripts/train_toy_vlm.py --out pixelshap_eval/assets/toy_vlm
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from pixelshap_eval.data.synth import QUESTION_TYPES
from pixelshap_eval.toy import TOY_MODEL_DIR
from pixelshap_eval.toy.training import TrainingConfig, save_toy_model, train

DEFAULTS = TrainingConfig()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=TOY_MODEL_DIR, help="folder for the trained model")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr)
    parser.add_argument("--warmup", type=int, default=DEFAULTS.warmup)
    parser.add_argument("--aux-weight", type=float, default=DEFAULTS.aux_weight)
    parser.add_argument("--question-types", nargs="+", default=list(DEFAULTS.question_types), choices=QUESTION_TYPES)
    parser.add_argument("--threads", type=int, default=DEFAULTS.threads)
    parser.add_argument("--log-every", type=int, default=DEFAULTS.log_every)
    parser.add_argument("--val-every", type=int, default=DEFAULTS.val_every)
    parser.add_argument("--val-size", type=int, default=DEFAULTS.val_size, help="masked scenes in the teacher-forced validation")
    parser.add_argument("--device", default=DEFAULTS.device, help="cpu, or cuda where one is available")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = TrainingConfig(
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        aux_weight=args.aux_weight,
        question_types=tuple(args.question_types),
        threads=args.threads,
        log_every=args.log_every,
        val_every=args.val_every,
        val_size=args.val_size,
        device=args.device,
    )
    model, processor, record = train(config, log=partial(print, flush=True))
    save_toy_model(model, processor, record, args.out)
    print(f"saved the toy model to {args.out} after {record['train_seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
