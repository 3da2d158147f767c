"""`pixelshap-eval report RUN [RUN ...] --out FILE`: one HTML report of lmms-eval runs, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of one or more lmms-eval runs of pixelshap tasks",
        description="Each RUN is the --output_path of an lmms-eval run made with --log_samples.",
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN")
    parser.add_argument("--labels", nargs="+", help="a column name per run (default: the folder names)")
    parser.add_argument("--out", type=Path, default=Path("pixelshap-report.html"), help="report file (default: %(default)s)")
    parser.add_argument("--title", default="pixelshap_eval report")
    parser.add_argument("--samples-per-task", type=int, default=6)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelshap_eval.report.html import render_report
    from pixelshap_eval.report.runs import load_run

    labels = args.labels or [path.name for path in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f"pixelshap-eval report: got {len(labels)} labels for {len(args.runs)} runs")
    try:
        runs = [load_run(path, label) for path, label in zip(args.runs, labels)]
    except FileNotFoundError as error:
        raise SystemExit(f"pixelshap-eval report: {error}") from None
    path = render_report(runs, args.out, title=args.title, samples_per_task=args.samples_per_task)
    print(f"report: {path}")
    return 0
