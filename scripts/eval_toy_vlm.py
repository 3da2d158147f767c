"""Measure the shipped toy VLM and write the numbers into its model card.

1. Accuracy: greedy answers, generated in batches through the processor, on `--n` held-out
   scenes per question type the model claims (a scene seed the training never uses).
2. Attribution check on `--attribution-n` of those scenes per type: players = the scene's
   objects, masked BBOA (2-px box margin, black fill), value = cosine similarity of the
   answer's text embedding to the full-image answer's (all-MiniLM-L6-v2). Recall@1 of the
   target for exact Shapley and for KernelSHAP at 2n+2 model calls, and exact Shapley on the
   same architecture with re-initialised weights (model randomisation test), next to chance
   (the mean of 1/n).

    python scripts/eval_toy_vlm.py            # prints, writes evaluation.json and the card
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from transformers import LlavaForConditionalGeneration

from pixelshap_eval.data.schema import object_regions
from pixelshap_eval.data.synth import build_synth_dataset
from pixelshap_eval.explain import explain
from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.metrics import recall_at_k
from pixelshap_eval.toy import TOY_MODEL_DIR, load_toy_model, toy_question_types
from pixelshap_eval.values import TextEmbedder, similarity_values

HELD_OUT_SEED = 20250  # training draws from SeedSequence([train_seed, 1]); this set never overlaps
EVALUATION_RECORD = "evaluation.json"
CARD_START, CARD_END = "<!-- evaluation:start -->", "<!-- evaluation:end -->"
MAX_NEW_TOKENS = 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=TOY_MODEL_DIR)
    parser.add_argument("--n", type=int, default=500, help="held-out scenes per question type (accuracy)")
    parser.add_argument("--attribution-n", type=int, default=100, help="scenes per type for the attribution check")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-card", action="store_true", help="print only; leave evaluation.json and README.md alone")
    return parser.parse_args(argv)


def accuracy_by_type(rows, answers: list[str]) -> dict[str, float]:
    """Exact-match accuracy (case- and space-insensitive) per question type."""
    correct: dict[str, list[bool]] = {}
    for row, answer in zip(rows, answers):
        correct.setdefault(row["question_type"], []).append(answer.strip().lower() == row["answer"])
    return {qtype: float(np.mean(hits)) for qtype, hits in sorted(correct.items())}


def attribution_recall(runner: HFRunner, rows, embedder: TextEmbedder, estimator: str, budget_of=None) -> dict[str, float]:
    """Mean Recall@1 of the target per question type (ties count as their expected value)."""
    recalls: dict[str, list[float]] = {}
    for index, row in enumerate(rows):
        regions = object_regions(row)
        image, question = row["image"].convert("RGB"), row["question"]
        reference = runner.generate([image], [question], max_new_tokens=MAX_NEW_TOKENS)[0]

        def ask(images, reference=reference, question=question):
            answers = runner.generate(images, [question] * len(images), max_new_tokens=MAX_NEW_TOKENS)
            if not reference.strip():  # a model that says nothing on the full image: no signal
                return np.zeros(len(images))
            return similarity_values(reference, answers, embedder)

        budget = budget_of(len(regions)) if budget_of else None
        result = explain(image, regions, ask, estimator=estimator, budget=budget, seed=index, progress=False)
        recall = recall_at_k(result.attribution.scores, row["target_index"], 1)
        recalls.setdefault(row["question_type"], []).append(recall)
    return {qtype: float(np.mean(values)) for qtype, values in sorted(recalls.items())}


def with_mean(per_type: dict[str, float]) -> dict[str, float]:
    return {**per_type, "mean": float(np.mean(list(per_type.values())))}


def reinitialised(model: LlavaForConditionalGeneration, seed: int) -> LlavaForConditionalGeneration:
    """Same architecture and config, freshly initialised weights (model randomisation test)."""
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(model.config).to(torch.float32).eval()


def card_table(results: dict) -> str:
    """Markdown of the measured numbers, for the model card."""
    types = [t for t in results["accuracy"] if t != "mean"]
    header = (
        f"| question type | accuracy (greedy, n={results['n']}) | Recall@1 exact Shapley | "
        "Recall@1 KernelSHAP 2n+2 | Recall@1 random weights | chance |"
    )
    lines = [
        (
            f"Measured by `scripts/eval_toy_vlm.py` on held-out scenes (seed {results['seed']}), "
            f"{results['date']}, in {results['seconds']:.0f} s on {results['threads']} CPU thread(s)."
        ),
        "",
        header,
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for qtype in [*types, "mean"]:
        lines.append(
            f"| {qtype} | {results['accuracy'][qtype]:.3f} | {results['recall_exact'][qtype]:.3f} | "
            f"{results['recall_kernel'][qtype]:.3f} | {results['recall_random'][qtype]:.3f} | {results['chance'][qtype]:.3f} |"
        )
    lines += [
        "",
        (
            f"Attribution check: {results['attribution_n']} scenes per type; players = the scene's objects, "
            "BBOA masking (2-px margin, black fill), value = cosine similarity (all-MiniLM-L6-v2) of the "
            "answer to the full-image answer; Recall@1 counts ties at their expected value."
        ),
    ]
    return "\n".join(lines)


def write_card(model_dir: Path, results: dict) -> None:
    card = model_dir / "README.md"
    text = card.read_text()
    if CARD_START not in text or CARD_END not in text:
        raise ValueError(f"{card} has no {CARD_START} ... {CARD_END} block to fill in")
    pattern = re.compile(re.escape(CARD_START) + ".*?" + re.escape(CARD_END), re.DOTALL)
    card.write_text(pattern.sub(lambda _: f"{CARD_START}\n{card_table(results)}\n{CARD_END}", text))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    model, processor = load_toy_model(args.model_dir)
    runner = HFRunner(model, processor, batch_size=args.batch_size)
    types = toy_question_types(args.model_dir)
    rows = build_synth_dataset(args.n, seed=args.seed, question_types=types)["test"]

    answers = runner.generate([im.convert("RGB") for im in rows["image"]], rows["question"], max_new_tokens=MAX_NEW_TOKENS)
    accuracy = with_mean(accuracy_by_type(rows, answers))
    print("accuracy:", json.dumps(accuracy), flush=True)

    subset = rows.select(range(min(len(rows), args.attribution_n * len(types))))
    embedder = TextEmbedder()
    exact = with_mean(attribution_recall(runner, subset, embedder, "exact"))
    print("Recall@1 exact Shapley:", json.dumps(exact), flush=True)
    kernel = with_mean(attribution_recall(runner, subset, embedder, "kernel", budget_of=lambda n: 2 * n + 2))
    print("Recall@1 KernelSHAP 2n+2:", json.dumps(kernel), flush=True)
    random_runner = HFRunner(reinitialised(model, args.seed), processor, batch_size=args.batch_size)
    randomised = with_mean(attribution_recall(random_runner, subset, embedder, "exact"))
    print("Recall@1 exact Shapley, re-initialised weights:", json.dumps(randomised), flush=True)
    chance: dict[str, list[float]] = {}
    for row in subset:
        chance.setdefault(row["question_type"], []).append(1 / len(row["objects"]))
    chance_rate = with_mean({qtype: float(np.mean(v)) for qtype, v in sorted(chance.items())})
    print("chance:", json.dumps(chance_rate), flush=True)

    results = {
        "seed": args.seed,
        "n": args.n,
        "attribution_n": args.attribution_n,
        "threads": args.threads,
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.monotonic() - start, 1),
        "accuracy": accuracy,
        "recall_exact": exact,
        "recall_kernel": kernel,
        "recall_random": randomised,
        "chance": chance_rate,
    }
    if not args.no_card:
        (args.model_dir / EVALUATION_RECORD).write_text(json.dumps(results, indent=2) + "\n")
        write_card(args.model_dir, results)
        print(f"wrote {args.model_dir / EVALUATION_RECORD} and the card {args.model_dir / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
