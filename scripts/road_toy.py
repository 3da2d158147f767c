"""ROAD on the embedded toy model: the Shapley ranking's MoRF / LeRF AUC against a random ranking's.

Builds the synthetic scenes, runs `pixelshap_synth` (exact Shapley) through lmms-eval with the
toy model, then `pixelshap_synth_road` twice on the same documents: with that run's rankings
and with a seeded random ranking of the same objects (`road_ranking=random`). Prints the mean
AUC with its standard error for both, and the paired difference (Shapley - random).

    python scripts/road_toy.py --out /tmp/road-toy                       # 10 scenes per question type
    python scripts/road_toy.py --out /tmp/road-toy --scenes-per-type 2 --points 11   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types


def lmms_eval(task: str, output: Path, data: Path, config: str, batch_size: int) -> Path:
    """One lmms-eval run of `task` with the toy model; returns its samples JSONL."""
    command = [
        sys.executable, "-m", "lmms_eval", "--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32",
        "--batch_size", str(batch_size), "--tasks", task, "--output_path", str(output), "--log_samples", "--verbosity", "WARNING",
    ]
    env = {**os.environ, "PIXELSHAP_DATA_DIR": str(data), "PIXELSHAP_CONFIG": config, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    samples = sorted(output.glob(f"*/*_samples_{task}.jsonl"))
    if not samples:
        raise RuntimeError(f"lmms-eval wrote no samples for {task} under {output}")
    return samples[-1]


def per_document(samples: Path, metric: str) -> dict[str, float]:
    rows = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    return {row["pixelshap"]["question_id"]: float(row[metric]) for row in rows if metric in row}


def mean_and_se(values: np.ndarray) -> str:
    se = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else float("nan")
    return f"{values.mean():.3f} ± {se:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the data and the runs")
    parser.add_argument("--scenes-per-type", type=int, default=10)
    parser.add_argument("--points", type=int, default=51, help="road_points")
    parser.add_argument("--noise", type=float, default=0.01, help="road_noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty: choose a new folder")
    data = args.out / "data"
    build_synth_set(args.scenes_per_type, args.seed, toy_question_types()).save(data / "synth")
    rankings = lmms_eval("pixelshap_synth", args.out / "attribution", data, "heatmaps=false", args.batch_size)
    road = {}
    for ranking in ("given", "random"):
        config = f"rankings={rankings},road_points={args.points},road_noise={args.noise},road_ranking={ranking},seed={args.seed}"
        road[ranking] = lmms_eval("pixelshap_synth_road", args.out / f"road-{ranking}", data, config, args.batch_size)
    print(f"ROAD on the toy model, pixelshap_synth ({args.scenes_per_type} scenes per question type), {args.points} points, noise {args.noise}")
    print("| metric | Shapley ranking | random ranking | Shapley - random (paired) | documents |")
    print("| --- | --- | --- | --- | --- |")
    for metric in ("road_morf_auc", "road_lerf_auc"):
        shapley, random = per_document(road["given"], metric), per_document(road["random"], metric)
        keys = sorted(set(shapley) & set(random))
        a, b = np.array([shapley[k] for k in keys]), np.array([random[k] for k in keys])
        print(f"| {metric} | {mean_and_se(a)} | {mean_and_se(b)} | {mean_and_se(a - b)} | {len(keys)} |")


if __name__ == "__main__":
    main()
