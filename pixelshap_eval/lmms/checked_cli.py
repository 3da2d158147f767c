"""`lmms_eval`: lmms-eval's own command line, with an exit code that says whether the run worked.

lmms-eval 0.7.3 catches an error in an evaluation, prints its traceback and exits 0 with no
results, so a release pipeline reading the exit code sees success. This runs lmms-eval's own
entry point unchanged (same flags, same outputs) and exits 1 when an evaluation raised, with one
closing line naming the error. An error raised by this plugin's own code (a bad setting, a
missing dataset) is printed as that one line instead of a traceback; `--verbosity DEBUG` keeps
lmms-eval's behaviour of raising it with the full traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def raised_by_plugin(error: BaseException) -> bool:
    """Whether the innermost frame of `error`'s traceback is in pixelshap_eval's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE_DIR)


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}" if not raised_by_plugin(error) else text


def _quiet_traceback_module() -> SimpleNamespace:
    """A stand-in for the `traceback` module in lmms-eval's CLI: plugin errors print one line."""

    def print_exc(*args, **kwargs) -> None:
        error = sys.exc_info()[1]
        if error is not None and raised_by_plugin(error):
            print(f"pixelshap-eval: {one_line(error)}", file=sys.stderr)
        else:
            traceback.print_exc(*args, **kwargs)

    names = {name: getattr(traceback, name) for name in dir(traceback) if not name.startswith("_")}
    return SimpleNamespace(**{**names, "print_exc": print_exc})


def output_path_of(argv: list[str]) -> Path | None:
    """The folder an lmms-eval command line writes to (--output_path, a folder or a .json file)."""
    for index, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--output_path=") else argv[index + 1] if arg == "--output_path" and index + 1 < len(argv) else None
        if value:
            path = Path(value)
            return path.parent if path.suffix == ".json" else path
    return None


def main(argv: list[str] | None = None) -> int:
    """Run lmms-eval's CLI with `argv` (default: sys.argv[1:]); 1 when an evaluation failed,
    2 when --output_path cannot be written (checked before any model is loaded)."""
    from pixelshap_eval.data.checks import check_output_location

    args = sys.argv[1:] if argv is None else argv
    output = output_path_of(args)
    if output is not None:
        try:
            check_output_location(output)
        except OSError as error:
            print(f"lmms_eval: {error}", file=sys.stderr)
            return 2

    import lmms_eval.__main__ as lmms_main
    from lmms_eval.cli.dispatch import main as dispatch

    failures: list[BaseException] = []
    evaluate_single = lmms_main.cli_evaluate_single

    def recording(*args, **kwargs):
        try:
            outcome = evaluate_single(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as error:
            failures.append(error)
            raise
        results = outcome[0] if isinstance(outcome, tuple) else outcome
        if results is None and int(os.environ.get("RANK", "0")) == 0:
            failures.append(RuntimeError("the evaluation returned no results"))
        return outcome

    lmms_main.cli_evaluate_single = recording
    lmms_main.traceback = _quiet_traceback_module()
    sys.argv = [sys.argv[0], *args]
    try:
        code = dispatch()
    except SystemExit as error:
        code = error.code
    finally:
        lmms_main.cli_evaluate_single = evaluate_single
        lmms_main.traceback = traceback
    if failures:
        print(f"lmms_eval: the run failed, no results were written for it: {one_line(failures[0])}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
