"""Per-document scores of one model on one task, read from an lmms-eval run folder.

Everything a leaderboard, a release check or a shortcut report needs is read from the files an
lmms-eval run writes (results JSON and samples JSONL under its --output_path, made with
--log_samples), never from task internals: the settings, dataset fingerprint and versions the
task copied into the results, the directions lmms-eval states per metric, and per document the
metric values and the attribution (values, standard errors, players) keyed by question id.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelshap_eval.lmms.counts import COUNT_METRICS
from pixelshap_eval.lmms.provenance import PROVENANCE_KEY
from pixelshap_eval.run_files import choose_results, stamp_of

SETTINGS_KEY = "pixelshap"  # the task's settings in its results metadata (see pixelshap_eval.lmms.task)


@dataclass(frozen=True)
class Player:
    """One player of a document's game: its label and xywh box."""

    label: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Evidence:
    """A document's attribution: what the shortcut report judges (no images)."""

    values: tuple[float, ...]
    std_errors: tuple[float | None, ...]  # None: the estimator gave none
    players: tuple[Player, ...]
    target_index: int | None
    image_size: tuple[int, int] | None  # (width, height)

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "std_errors": list(self.std_errors),
            "players": [{"label": p.label, "box": list(p.box)} for p in self.players],
            "target_index": self.target_index,
            "image_size": list(self.image_size) if self.image_size else None,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Evidence:
        size = data.get("image_size")
        return Evidence(
            values=tuple(float(v) for v in data["values"]),
            std_errors=tuple(_finite_or_none(v) for v in data["std_errors"]),
            players=tuple(Player(str(p["label"]), tuple(float(x) for x in p["box"])) for p in data["players"]),  # type: ignore[arg-type]
            target_index=None if data.get("target_index") is None else int(data["target_index"]),
            image_size=(int(size[0]), int(size[1])) if size else None,
        )


@dataclass(frozen=True)
class Aggregate:
    """Mean of a metric over the documents that define it, its standard error and count."""

    mean: float
    stderr: float | None
    n: int


@dataclass
class TaskScores:
    """One model on one task: identity, comparability facts and per-document scores."""

    model: str  # what the row is called: the model name lmms-eval reports
    model_args: str
    task: str
    settings: dict[str, Any]  # the task's pixelshap settings
    dataset_fingerprint: str | None
    versions: dict[str, str]  # package -> version
    higher_is_better: dict[str, bool]  # metric -> direction, as lmms-eval states it
    documents: dict[str, dict[str, float]]  # question id -> metric -> score
    stated: dict[str, float]  # aggregates as the results JSON (or a submission) states them
    evidence: dict[str, Evidence] = field(default_factory=dict)  # question id -> attribution
    source: str = ""  # where it was read from

    def metric_names(self) -> list[str]:
        return [name for name in self.higher_is_better if any(name in doc for doc in self.documents.values())]

    def aggregate(self, metric: str) -> Aggregate:
        """Mean over documents, as lmms-eval's `mean` aggregation computes it (documents that
        leave the metric out are skipped), with the sample standard error of the mean."""
        values = [doc[metric] for doc in self.documents.values() if metric in doc]
        if not values:
            raise KeyError(f"{self.task}: no document of {self.model} has a {metric!r} score")
        mean = math.fsum(values) / len(values)
        if len(values) < 2:
            return Aggregate(mean, None, len(values))
        variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
        return Aggregate(mean, math.sqrt(variance / len(values)), len(values))

    def scores_of(self, metric: str) -> dict[str, float]:
        return {key: doc[metric] for key, doc in self.documents.items() if metric in doc}


def load_run_scores(root: str | Path) -> list[TaskScores]:
    """The pixelshap tasks of a results JSON, or of the newest one under the run folder `root`
    (an lmms-eval --output_path; see `run_files`)."""
    latest = choose_results(root)
    stamp = stamp_of(latest)
    data = json.loads(latest.read_text())
    config = data.get("config", {})
    model = str(data.get("model_name") or config.get("model") or latest.parent.name)
    tasks = []
    for task, task_config in sorted(data.get("configs", {}).items()):
        metadata = task_config.get("metadata") or {}
        if SETTINGS_KEY not in metadata:
            continue  # not a pixelshap task
        samples = latest.parent / f"{stamp}_samples_{task}.jsonl"
        if not samples.is_file():
            raise FileNotFoundError(f"{samples} is missing: run lmms-eval with --log_samples so per-document scores are kept")
        # the document counts are bookkeeping summed over documents, not per-document scores to rank
        directions = {k: bool(v) for k, v in data.get("higher_is_better", {}).get(task, {}).items() if k not in COUNT_METRICS}
        documents, evidence = _documents(samples, directions)
        provenance = metadata.get(PROVENANCE_KEY) or {}
        tasks.append(
            TaskScores(
                model=model,
                model_args=str(config.get("model_args") or ""),
                task=task,
                settings=dict(metadata[SETTINGS_KEY]),
                dataset_fingerprint=provenance.get("dataset_fingerprint"),
                versions=dict(provenance.get("versions") or {}),
                higher_is_better=directions,
                documents=documents,
                stated=_stated(data.get("results", {}).get(task, {}), directions),
                evidence=evidence,
                source=str(root),
            )
        )
    if not tasks:
        raise ValueError(f"{latest} holds no pixelshap task (tasks: {sorted(data.get('configs', {}))})")
    return tasks


def _documents(path: Path, directions: dict[str, bool]) -> tuple[dict[str, dict[str, float]], dict[str, Evidence]]:
    documents: dict[str, dict[str, float]] = {}
    evidence: dict[str, Evidence] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        record = row.get("pixelshap") or {}
        key = str(record.get("question_id", row.get("doc_id")))
        documents[key] = {name: float(row[name]) for name in directions if isinstance(row.get(name), (int, float))}
        if "values" in record and "players" in record:
            evidence[key] = Evidence.from_dict(record)
    return documents, evidence


def _stated(results: dict[str, Any], directions: dict[str, bool]) -> dict[str, float]:
    stated = {}
    for name in directions:
        value = results.get(f"{name},none")
        if isinstance(value, (int, float)):
            stated[name] = float(value)
    return stated


def _finite_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
