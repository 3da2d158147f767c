"""A leaderboard: one row per model and task, ranked within groups of comparable rows, with
paired differences between neighbours and model-free reference rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixelshap_eval.leaderboard.comparable import IncomparableError, comparable_groups, describe_mismatch
from pixelshap_eval.leaderboard.paired import PairedDifference, paired_difference
from pixelshap_eval.leaderboard.scores import Aggregate, TaskScores
from pixelshap_eval.leaderboard.shortcuts import ShortcutSummary, summarise

ALPHA = 0.05  # neighbours whose paired p-value is below this are marked significantly apart
# baseline metric names (pixelshap_eval.baselines) that are a task metric under another name
BASELINE_METRIC_NAMES = {"mask_iou_at_1": "iou_at_1"}


@dataclass(frozen=True)
class Row:
    label: str
    scores: TaskScores
    aggregates: dict[str, Aggregate]
    shortcuts: ShortcutSummary


@dataclass(frozen=True)
class Gap:
    """Paired difference of the rank metric between a row and the one ranked below it."""

    upper: str
    lower: str
    difference: PairedDifference

    @property
    def significant(self) -> bool:
        return self.difference.p_value < ALPHA


@dataclass(frozen=True)
class Reference:
    """A model-free reference row: chance, or a baseline of the built set."""

    label: str
    scores: dict[str, float]


@dataclass
class Section:
    """The ranked, comparable rows of one task."""

    task: str
    rank_by: str
    higher_is_better: bool
    metrics: list[str]
    rows: list[Row]
    gaps: list[Gap]
    references: list[Reference] = field(default_factory=list)
    mixed: bool = False  # one of several incomparable sections of the same task


@dataclass
class Leaderboard:
    sections: list[Section]


def label_of(scores: TaskScores) -> str:
    """A short row name: the last path component of the model name."""
    return scores.model.rstrip("/").rsplit("/", 1)[-1] or scores.model


def chance(scores: TaskScores) -> Reference | None:
    """Recall@k of a uniformly random ranking of each document's players (exact expectation)."""
    sizes = [len(e.players) for e in scores.evidence.values() if e.target_index is not None and e.players]
    if not sizes or not any(name.startswith("recall_at_") for name in scores.higher_is_better):
        return None
    values = {}
    for name in scores.higher_is_better:
        if name.startswith("recall_at_") and name[len("recall_at_"):].isdigit():
            k = int(name[len("recall_at_"):])
            values[name] = float(np.mean([min(k, n) / n for n in sizes]))
    return Reference("chance", values)


def build_leaderboard(
    rows: list[TaskScores],
    rank_by: str | None = None,
    allow_mixed: bool = False,
    baselines: dict[str, dict[str, dict[str, float]]] | None = None,
) -> Leaderboard:
    """Rank `rows` per task. `rank_by` (default: the task's first metric); `baselines` maps a
    task to baseline -> metric -> score (from `pixelshap-eval baselines` of its set)."""
    if not rows:
        raise ValueError("a leaderboard needs at least one run or submission")
    sections = []
    for task in sorted({r.task for r in rows}):
        groups = comparable_groups([r for r in rows if r.task == task])
        if len(groups) > 1 and not allow_mixed:
            raise IncomparableError(describe_mismatch(groups))
        for group in groups:
            sections.append(_section(task, group, rank_by, (baselines or {}).get(task, {}), mixed=len(groups) > 1))
    return Leaderboard(sections)


def _section(task: str, group: list[TaskScores], rank_by: str | None, baselines: dict[str, dict[str, float]], mixed: bool) -> Section:
    metrics = [m for m in group[0].higher_is_better if any(m in t.stated or t.scores_of(m) for t in group)]
    metric = rank_by or metrics[0]
    if metric not in metrics:
        raise ValueError(f"{task}: cannot rank by {metric!r}; its metrics are {metrics}")
    higher = group[0].higher_is_better[metric]
    labels = _unique_labels(group)
    built = [
        Row(label, t, {m: t.aggregate(m) for m in metrics if t.scores_of(m)}, summarise(t)) for label, t in zip(labels, group)
    ]
    built.sort(key=lambda r: r.aggregates[metric].mean if metric in r.aggregates else -np.inf, reverse=higher)
    gaps = []
    for upper, lower in zip(built, built[1:]):
        a, b = upper.scores.scores_of(metric), lower.scores.scores_of(metric)
        shared = sorted(set(a) & set(b))
        if shared:
            gaps.append(Gap(upper.label, lower.label, paired_difference([a[k] for k in shared], [b[k] for k in shared])))
    references = [ref for ref in [chance(group[0])] if ref is not None]
    for name, scores in baselines.items():
        references.append(Reference(name, {BASELINE_METRIC_NAMES.get(m, m): v for m, v in scores.items()}))
    return Section(task, metric, higher, metrics, built, gaps, references, mixed)


def _unique_labels(group: list[TaskScores]) -> list[str]:
    labels = [label_of(t) for t in group]
    return [f"{label} ({t.source})" if labels.count(label) > 1 else label for label, t in zip(labels, group)]
