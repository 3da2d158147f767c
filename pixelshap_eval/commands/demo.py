"""`pixelshap-eval demo [--out DIR]`: the main job on the embedded default (see pixelshap_eval.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelshap_eval.data.photos import PHOTOS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the toy model (and its re-initialised copy) through lmms-eval and write an HTML report",
        description="Build the synthetic scenes and package photos, run pixelshap_synth, pixelshap_synth_kernel "
        "and pixelshap_photos through lmms-eval with the shipped toy model and with its weights re-initialised, "
        "and write a self-contained HTML report. Runs offline in a few minutes on a CPU.",
    )
    parser.add_argument("--out", type=Path, default=Path("pixelshap-demo"), help="run folder (default: %(default)s)")
    parser.add_argument("--scenes-per-type", type=int, default=25, help="synthetic scenes per question type (default: %(default)s)")
    parser.add_argument("--photos", nargs="+", default=list(PHOTOS), choices=sorted(PHOTOS), help="package photos to include")
    parser.add_argument("--batch-size", type=int, default=64, help="coalitions per model batch (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelshap_eval.demo import DemoSettings, OccupiedFolderError, run_demo, summary_lines

    if args.scenes_per_type < 1:
        raise SystemExit("pixelshap-eval demo: --scenes-per-type must be at least 1")
    try:
        result = run_demo(DemoSettings(out=args.out, scenes_per_type=args.scenes_per_type, photos=tuple(args.photos), batch_size=args.batch_size))
    except OccupiedFolderError as error:
        raise SystemExit(f"pixelshap-eval demo: {error}") from None
    print()
    print("\n".join(summary_lines(result)))
    print(f"\nreport: {result.report}")
    print(f"runs:   {result.runs[0].root} and {result.runs[1].root} (results JSON, samples JSONL, heatmaps)")
    return 0
