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
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error instead of one line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"pixelshap_eval.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; an error raised by this package's own code is one line (exit 1)
    unless --debug asks for the traceback."""
    from pixelshap_eval.lmms.checked_cli import one_line, raised_by_plugin

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except Exception as error:
        if args.debug or not raised_by_plugin(error):
            raise
        print(f"pixelshap-eval {args.command}: {one_line(error)} (--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
