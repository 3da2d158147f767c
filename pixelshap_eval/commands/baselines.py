"""`pixelshap-eval baselines DIR [--json FILE]`: model-free baselines of a built set, as a
table (percent) and optionally as JSON (fractions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pixelshap_eval.baselines import load_built_set, run_baselines


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "baselines",
        help="score model-free baselines (random, central/largest object, centre prior) on a built set",
        description="Object-importance sets: Recall@1/2/3 and IoU@1 of random, central-object and largest-object "
        "rankings. Human-attention sets: hit@3, precision@3 and NDCG@3 of random and centre-prior rankings.",
    )
    parser.add_argument("set_dir", type=Path, metavar="DIR", help="a folder written by `pixelshap-eval build`")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the scores as JSON here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        report = run_baselines(load_built_set(args.set_dir))
    except (FileNotFoundError, ValueError) as error:
        print(f"pixelshap-eval baselines: {error}", file=sys.stderr)
        return 2
    print(report.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"set_dir": str(args.set_dir), **report.to_dict()}, indent=2) + "\n", encoding="utf-8"
        )
        print(f"saved {args.json}")
    return 0
