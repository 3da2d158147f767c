"""Which lmms-eval results file a command reads: the one the user names, or the newest.

One `--output_path` can hold several runs (several models, or the same model run twice), each a
`<stamp>_results.json` with its `<stamp>_samples_<task>.jsonl` beside it. Commands that read runs
take either a results JSON (an explicit choice) or a folder, in which the newest results file by
its time stamp is used, and they say which file that was.
"""

from __future__ import annotations

import sys
from pathlib import Path

SUFFIX = "_results.json"


def results_files(root: Path) -> list[Path]:
    """Every results JSON directly in `root` or one folder down (lmms-eval's <model>/ folder), oldest first."""
    return sorted([*root.glob(f"*{SUFFIX}"), *root.glob(f"*/*{SUFFIX}")], key=lambda path: (path.name, str(path)))


def choose_results(path: str | Path, announce: bool = True) -> Path:
    """The results JSON `path` names, or the newest under the run folder `path` (announced on stderr
    when the folder holds more than one)."""
    path = Path(path)
    if path.is_file():
        if not path.name.endswith(SUFFIX):
            raise FileNotFoundError(f"{path} is not an lmms-eval results file (*{SUFFIX}): pass one, or a run's --output_path")
        return path
    found = results_files(path) if path.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no lmms-eval results under {path}: pass the --output_path of a finished run, or its results JSON")
    chosen = found[-1]
    if len(found) > 1 and announce:
        print(
            f"{path}: using {chosen.relative_to(path)}, the newest of {len(found)} results files there; "
            "pass a results JSON instead of the folder to choose another",
            file=sys.stderr,
        )
    return chosen


def stamp_of(results: Path) -> str:
    """The time stamp that names a results file and its samples files."""
    return results.name[: -len(SUFFIX)]
