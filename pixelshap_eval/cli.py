"""The `pixelshap-eval` command: one subcommand per module of `pixelshap_eval.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines `add_parser(subparsers)`, which registers its subcommand and sets
# `run=<callable(args) -> int>` as the parser default.
COMMAND_MODULES: tuple[str, ...] = ("demo", "build", "baselines", "report", "leaderboard", "submit", "check")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelshap-eval",
        description="Shapley attributions of vision-language models over image regions: build the datasets, "
        "run the demo, score and report (the lmms-eval tasks are named pixelshap_*).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"pixelshap_eval.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
