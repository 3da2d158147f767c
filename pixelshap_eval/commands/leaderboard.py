"""`pixelshap-eval leaderboard INPUT ... [--format F] [--out FILE]`: rank runs and submissions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixelshap_eval.leaderboard.render import FORMATS

FORMAT_BY_SUFFIX = {".md": "markdown", ".csv": "csv", ".json": "json", ".html": "html"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard",
        help="rank lmms-eval runs and submission files per task, with paired differences and reference rows",
        description="Each INPUT is an lmms-eval --output_path made with --log_samples, or a file written by "
        "`pixelshap-eval submit`. Every aggregate is recomputed from the per-document scores. Rows are ranked only "
        "against comparable rows (same task settings, dataset fingerprint and package major.minor versions). "
        "Exit status: 0 written, 2 bad input or incomparable rows.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    parser.add_argument("--format", choices=FORMATS, help="default: from --out's suffix, else markdown")
    parser.add_argument("--out", type=Path, help="write here instead of to stdout")
    parser.add_argument("--rank-by", metavar="METRIC", help="the metric rows are ranked by (default: each task's first)")
    parser.add_argument("--allow-mixed", action="store_true", help="show incomparable rows in separate sections instead of refusing")
    parser.add_argument(
        "--baselines", nargs="+", default=[], metavar="DATASET=DIR",
        help="reference rows: model-free baselines of the built set DIR for the tasks on DATASET (e.g. synth=data/synth)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelshap_eval.leaderboard.baseline_rows import baseline_references
    from pixelshap_eval.leaderboard.comparable import IncomparableError
    from pixelshap_eval.leaderboard.inputs import load_inputs
    from pixelshap_eval.leaderboard.render import render
    from pixelshap_eval.leaderboard.table import build_leaderboard

    fmt = args.format or FORMAT_BY_SUFFIX.get(args.out.suffix if args.out else "", "markdown")
    try:
        rows = load_inputs(args.inputs)
        baselines = baseline_references(rows, args.baselines)
        board = build_leaderboard(rows, rank_by=args.rank_by, allow_mixed=args.allow_mixed, baselines=baselines)
    except (FileNotFoundError, ValueError, IncomparableError) as error:
        print(f"pixelshap-eval leaderboard: {error}", file=sys.stderr)
        return 2
    text = render(board, fmt)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"leaderboard: {args.out}")
    else:
        sys.stdout.write(text)
    return 0
