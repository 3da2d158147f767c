"""Run folders and submission files, read the same way: a list of `TaskScores`."""

from __future__ import annotations

from pathlib import Path

from pixelshap_eval.leaderboard.scores import TaskScores, load_run_scores
from pixelshap_eval.leaderboard.submission import read_submission, verify_aggregates


def load_inputs(paths: list[str | Path]) -> list[TaskScores]:
    """Each path is an lmms-eval --output_path (a folder) or a `pixelshap-eval submit` file."""
    rows: list[TaskScores] = []
    for path in map(Path, paths):
        if path.is_dir():
            tasks = load_run_scores(path)
            verify_aggregates(tasks)
        elif path.is_file():
            tasks = read_submission(path)
        else:
            raise FileNotFoundError(f"{path} does not exist: pass run folders (lmms-eval --output_path) or submission files")
        rows.extend(tasks)
    return rows
