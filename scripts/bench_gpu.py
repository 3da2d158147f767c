"""Seconds per COCO question of `pixelshap_hf` on a LLaVA-1.5-7B-architecture model, against the
PixelSHAP paper's 15 s per image (LLaVA-1.5-7B), and the share of that time spent in the model.

    python scripts/bench_gpu.py [--images 8] [--batch-size 32] [--budgets 21,64] [--out bench.json]
    python scripts/bench_gpu.py --tiny --images 2        (a toy-size model of the same structure, CPU)

The model has llava-1.5-7b-hf's dimensions (7,063,427,072 parameters) with random weights, built
on the GPU in bf16 with SDPA attention and saved to a temporary folder so that lmms-eval's own
evaluator loads it through `pixelshap_hf` as a user's run would; nothing is downloaded. Random
weights answer at arbitrary lengths, so every answer is forced to exactly --new-tokens tokens
(max_new_tokens = min_new_tokens); a real model's answers to these one-word questions are
usually shorter, so the figures are an upper bound for the generation part. The COCO
object-importance set is built from coco_tiny (--coco, default $PIXELSHAP_SHARED_DATA/coco_tiny
or ../shared/data/coco_tiny) and the `pixelshap_coco` task runs once per budget
(PIXELSHAP_CONFIG=budget=B). Wall time is that of lmms-eval's evaluate (task loading, masking,
the model, answer embeddings, solve, metrics); model time is every outermost call of the
model's generate/forward (synchronised on CUDA).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from lmms_eval.evaluator import simple_evaluate  # noqa: E402
from PIL import Image  # noqa: E402

from pixelshap_eval.data.coco import build_coco_set  # noqa: E402
from pixelshap_eval.lmms.hf_model import PixelShapHF  # noqa: E402
from pixelshap_eval.lmms.responses import EMBEDDERS  # noqa: E402
from pixelshap_eval.testing.llava_sizes import LLAVA_1_5_7B, TINY, save_llava  # noqa: E402
from pixelshap_eval.values import TextEmbedder  # noqa: E402

TASK = "pixelshap_coco"
PAPER_SECONDS_PER_IMAGE = 15.0  # PixelSHAP paper, LLaVA-1.5-7B, at its ~21 calls per image


class Clock:
    """Wall time of the outermost calls of wrapped callables, per name (nested calls, such as
    forward inside generate, count once); on CUDA it synchronises before reading the clock."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.seconds: dict[str, float] = {}
        self._depth = 0

    def reset(self) -> None:
        self.seconds = {}

    def timed(self, name: str, function: Callable[..., Any], on_result: Callable[..., None] | None = None) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps the signature: generate validates its kwargs against forward's
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                if self.cuda:
                    torch.cuda.synchronize()
            finally:
                self._depth -= 1
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            if on_result is not None:
                on_result(args, kwargs, result)
            return result

        return wrapper


class ModelCalls:
    """Counts the (image, prompt) rows the model is asked about and the new tokens per answer."""

    def __init__(self) -> None:
        self.rows = 0
        self.new_tokens: set[int] = set()

    def reset(self) -> None:
        self.rows, self.new_tokens = 0, set()

    def generated(self, args: tuple, kwargs: dict, output: torch.Tensor) -> None:
        prompt = kwargs["input_ids"]
        self.rows += int(prompt.shape[0])
        self.new_tokens.add(int(output.shape[1] - prompt.shape[1]))

    def forwarded(self, args: tuple, kwargs: dict, output: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.rows += int(ids.shape[0]) if ids is not None else 0


@contextmanager
def timing(model: torch.nn.Module, clock: Clock, calls: ModelCalls) -> Iterator[None]:
    """Time the model's generate/forward (instance attributes, so only this model) and the
    answer embedder's `embed` while the block runs."""
    embed = TextEmbedder.embed
    model.generate = clock.timed("model", model.generate, calls.generated)  # type: ignore[method-assign]
    model.forward = clock.timed("model", model.forward, calls.forwarded)  # type: ignore[method-assign]
    TextEmbedder.embed = clock.timed("embedding", embed)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del model.generate, model.forward
        TextEmbedder.embed = embed  # type: ignore[method-assign]


def find_coco(given: str | None) -> Path:
    """The COCO-format folder (annotations/instances_val2017.json + val2017/) to build from."""
    candidates = [given] if given else [
        os.environ.get("PIXELSHAP_SHARED_DATA") and str(Path(os.environ["PIXELSHAP_SHARED_DATA"]) / "coco_tiny"),
        str(Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_tiny"),
        "/work/shared/data/coco_tiny",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "annotations" / "instances_val2017.json").is_file():
            return Path(candidate)
    raise SystemExit(
        f"no COCO folder found (looked at {[c for c in candidates if c]}): pass --coco DIR holding "
        "annotations/instances_val2017.json and val2017/ (e.g. a copy of coco_tiny inside the repository)"
    )


def parse_budgets(text: str) -> list[int]:
    try:
        budgets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--budgets must be comma-separated integers such as 21,64; got {text!r}") from None
    if not budgets or min(budgets) < 1:
        raise SystemExit(f"--budgets needs at least one budget >= 1; got {text!r}")
    return budgets


def run_budget(model: PixelShapHF, budget: int, args: argparse.Namespace, manager: Any, clock: Clock, calls: ModelCalls) -> dict[str, Any]:
    """One lmms-eval evaluation of the task at `budget` calls per question; its figures."""
    os.environ["PIXELSHAP_CONFIG"] = f"budget={budget},heatmaps=false"
    clock.reset()
    calls.reset()
    if clock.cuda:
        torch.cuda.reset_peak_memory_stats()
    with timing(model.runner.model, clock, calls):
        start = time.perf_counter()
        results = simple_evaluate(
            model=model, tasks=[TASK], limit=args.images, bootstrap_iters=0,
            gen_kwargs=f"max_new_tokens={args.new_tokens}", task_manager=manager,
        )
        wall = time.perf_counter() - start
    counts = {kind: int(results["results"][TASK][f"documents_{kind},none"]) for kind in ("scored", "skipped", "failed")}
    images = sum(counts.values())  # fewer than --images when the set is smaller
    model_s, embedding_s = clock.seconds.get("model", 0.0), clock.seconds.get("embedding", 0.0)
    per_image = wall / images
    return {
        "budget": budget,
        "images": images,
        "documents_scored": counts["scored"],
        "model_calls": calls.rows,
        "calls_per_image": calls.rows / images,
        "new_tokens_per_answer": sorted(calls.new_tokens),
        "wall_s": wall,
        "seconds_per_image": per_image,
        "model_s": model_s,
        "model_share": model_s / wall,
        "embedding_share": embedding_s / wall,
        "paper_over_ours": PAPER_SECONDS_PER_IMAGE / per_image,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if clock.cuda else None,
    }


def report(summary: dict[str, Any]) -> str:
    lines = [
        f"\n{summary['model']} ({summary['parameters']:,} parameters, random weights), {summary['dtype']}, "
        f"attention {summary['attention']}, on {summary['device_name']}; batch size {summary['batch_size']}; "
        f"{summary['images']} COCO questions of coco_tiny val2017 ({TASK}).",
        f"Every answer is forced to exactly {summary['new_tokens']} new tokens (max_new_tokens = min_new_tokens): "
        "random weights stop at arbitrary lengths.",
        f"Paper: {PAPER_SECONDS_PER_IMAGE:.0f} s per image (PixelSHAP, LLaVA-1.5-7B). Model share = outermost "
        "generate/forward calls; embedding share = answer embeddings (CPU).\n",
        "| budget | calls/image | s/image | paper 15 s / ours | model share | embedding share | new tokens | peak GPU GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        peak = "n/a (CPU)" if run["peak_gpu_memory_gib"] is None else f"{run['peak_gpu_memory_gib']:.1f}"
        tokens = ",".join(str(t) for t in run["new_tokens_per_answer"])
        lines.append(
            f"| {run['budget']} | {run['calls_per_image']:.1f} | {run['seconds_per_image']:.2f} | {run['paper_over_ours']:.1f}x "
            f"| {100 * run['model_share']:.0f}% | {100 * run['embedding_share']:.0f}% | {tokens} | {peak} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a toy-size model of the same structure, on CPU, in float32 (tests)")
    parser.add_argument("--images", type=int, default=8, help="COCO questions per budget")
    parser.add_argument("--batch-size", type=int, default=32, help="pixelshap_hf batch size")
    parser.add_argument("--budgets", default="21,64", help="model calls per question, comma-separated")
    parser.add_argument("--new-tokens", type=int, default=8, help="answer length, forced")
    parser.add_argument("--device", default=None, help="default: cuda when available (the 7B model needs it), else cpu for --tiny")
    parser.add_argument("--coco", default=None, help="COCO-format folder to build the question set from (default: coco_tiny)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    budgets = parse_budgets(args.budgets)
    if args.images < 1 or args.batch_size < 1 or args.new_tokens < 1:
        raise SystemExit("--images, --batch-size and --new-tokens must be >= 1")
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but torch sees no CUDA device")
    if not args.tiny and not device.startswith("cuda"):
        raise SystemExit("the 7B model needs a CUDA GPU and torch sees none: run with --tiny for the CPU check, or on a GPU machine")
    size, dtype = (TINY, torch.float32) if args.tiny else (LLAVA_1_5_7B, torch.bfloat16)
    coco = find_coco(args.coco)

    work = Path(tempfile.mkdtemp(prefix="pixelshap-bench-gpu-"))
    try:
        build_coco_set(coco / "annotations" / "instances_val2017.json", coco / "val2017").save(work / "data" / "coco")
        os.environ["PIXELSHAP_DATA_DIR"] = str(work / "data")
        model_dir = save_llava(size, work / "model", new_tokens=args.new_tokens, dtype=dtype, device=device)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()  # the weights built for saving are freed before the model loads
        model = PixelShapHF(
            pretrained=str(model_dir), device=device, dtype=str(dtype).removeprefix("torch."),
            batch_size=args.batch_size, attn_implementation="sdpa",
        )
        shutil.rmtree(model_dir)  # a 7B model is 14 GB on disk; it is loaded now
        EMBEDDERS.get(None).embed(["warm up"])  # load the answer embedder outside the timings
        warm = Image.new("RGB", (size.image_size, size.image_size))
        model.runner.generate([warm] * min(args.batch_size, 4), ["warm up"] * min(args.batch_size, 4), max_new_tokens=args.new_tokens)

        from lmms_eval.tasks import TaskManager

        manager = TaskManager()  # indexes ~3,000 task YAMLs: a fixed cost per process, kept out of the timings
        clock, calls = Clock(cuda=device.startswith("cuda")), ModelCalls()
        runs = [run_budget(model, budget, args, manager, clock, calls) for budget in budgets]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loaded = model.runner.model
    summary = {
        "model": size.name,
        "parameters": sum(p.numel() for p in loaded.parameters()),
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU",
        "dtype": str(next(loaded.parameters()).dtype).removeprefix("torch."),
        "attention": loaded.config._attn_implementation,
        "batch_size": args.batch_size,
        "images": runs[0]["images"],
        "new_tokens": args.new_tokens,
        "paper_seconds_per_image": PAPER_SECONDS_PER_IMAGE,
        "runs": runs,
    }
    print(report(summary))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
        print(f"\nfigures written to {args.out}")


if __name__ == "__main__":
    main()
