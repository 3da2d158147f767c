"""Submission files: what a leaderboard maintainer needs from a run, and nothing more.

`pack` turns a run's tasks into one JSON document: model and model args, per task the settings,
dataset fingerprint, package versions, metric directions, the stated aggregates and every
document's scores and attribution (values, standard errors, player labels and boxes; no
images). `read_submission` loads it back and refuses it when a stated aggregate is not what the
per-document scores give.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pixelshap_eval.leaderboard.scores import Evidence, TaskScores

FORMAT = "pixelshap-submission"
FORMAT_VERSION = 1
TOLERANCE = 1e-9  # relative: aggregates are recomputed with math.fsum, lmms-eval uses a plain mean


class SubmissionError(ValueError):
    """A submission that is malformed, or whose stated aggregates do not match its documents."""


def pack(tasks: list[TaskScores]) -> dict[str, Any]:
    """The submission document of one run (all its tasks)."""
    models = sorted({t.model for t in tasks})
    if len(models) != 1:
        raise SubmissionError(f"a submission holds one model's run; got {models}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": models[0],
        "model_args": tasks[0].model_args,
        "tasks": [
            {
                "task": t.task,
                "settings": t.settings,
                "dataset_fingerprint": t.dataset_fingerprint,
                "versions": t.versions,
                "higher_is_better": t.higher_is_better,
                "aggregates": t.stated,
                "documents": t.documents,
                "evidence": {key: e.to_dict() for key, e in t.evidence.items()},
            }
            for t in tasks
        ],
    }


def write_submission(tasks: list[TaskScores], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    verify_aggregates(tasks)
    out.write_text(json.dumps(pack(tasks), indent=1) + "\n", encoding="utf-8")
    return out


def read_submission(path: str | Path) -> list[TaskScores]:
    """The tasks of a submission file, after checking every stated aggregate."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SubmissionError(f"{path} is not JSON ({error}); pass a file written by `pixelshap-eval submit`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SubmissionError(f"{path} is not a pixelshap submission (no \"format\": \"{FORMAT}\"); write one with `pixelshap-eval submit`")
    if data.get("format_version") != FORMAT_VERSION:
        raise SubmissionError(f"{path}: submission format version {data.get('format_version')} is not {FORMAT_VERSION}")
    try:
        tasks = [
            TaskScores(
                model=str(data["model"]),
                model_args=str(data.get("model_args", "")),
                task=str(t["task"]),
                settings=dict(t["settings"]),
                dataset_fingerprint=t.get("dataset_fingerprint"),
                versions=dict(t.get("versions") or {}),
                higher_is_better={k: bool(v) for k, v in t["higher_is_better"].items()},
                documents={k: {m: float(s) for m, s in doc.items()} for k, doc in t["documents"].items()},
                stated={k: float(v) for k, v in t["aggregates"].items()},
                evidence={k: Evidence.from_dict(e) for k, e in (t.get("evidence") or {}).items()},
                source=str(path),
            )
            for t in data["tasks"]
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise SubmissionError(f"{path}: malformed submission ({type(error).__name__}: {error})") from None
    verify_aggregates(tasks)
    return tasks


def verify_aggregates(tasks: list[TaskScores]) -> None:
    """Every stated aggregate must be the mean of the per-document scores it summarises."""
    problems = []
    for t in tasks:
        for metric, stated in sorted(t.stated.items()):
            if not t.scores_of(metric):
                problems.append(f"{t.task} {metric}: stated {stated!r} but no document has a score")
                continue
            recomputed = t.aggregate(metric).mean
            if not math.isclose(stated, recomputed, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                problems.append(f"{t.task} {metric}: stated {stated!r}, the per-document scores give {recomputed!r}")
    if problems:
        source = tasks[0].source if tasks else ""
        raise SubmissionError(f"refusing {source}: its aggregates do not match its per-document scores:\n  " + "\n  ".join(problems))
