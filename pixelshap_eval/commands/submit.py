"""`pixelshap-eval submit RUN --out FILE.json`: pack a run for a leaderboard maintainer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="pack an lmms-eval run (settings, fingerprints, versions, per-document scores; no images) into one JSON file",
        description="RUN is an lmms-eval --output_path made with --log_samples. The file holds what "
        "`pixelshap-eval leaderboard` needs to recompute and check every aggregate.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN")
    parser.add_argument("--out", type=Path, required=True, help="the submission file (.json)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelshap_eval.leaderboard.scores import load_run_scores
    from pixelshap_eval.leaderboard.submission import write_submission

    try:
        tasks = load_run_scores(args.run_dir)
        path = write_submission(tasks, args.out)
    except (FileNotFoundError, ValueError) as error:
        print(f"pixelshap-eval submit: {error}", file=sys.stderr)
        return 2
    documents = sum(len(t.documents) for t in tasks)
    print(f"submission: {path} ({len(tasks)} tasks, {documents} documents)")
    return 0
