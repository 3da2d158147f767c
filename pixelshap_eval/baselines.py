"""Model-free baselines over a built set: how well rankings that never look at a model score.

Object-importance sets (rows with a target): random, central-object and largest-object
rankings of the objects, scored by Recall@1/2/3 and IoU@1 (mask and box). Human-attention sets
(rows with human patches on the 12x12 padded grid): random and centre-prior rankings of the
144 cells, scored by hit@3, precision@3 and NDCG@3. "Random" is all-equal scores, which the
metrics score by their exact expectation over random tie-breaking (no sampling noise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset, load_from_disk

from pixelshap_eval import metrics
from pixelshap_eval.data.cards import EVALUATION_SPLIT
from pixelshap_eval.data.schema import HUMAN_GRID, object_regions
from pixelshap_eval.players import Region

# PixelSHAP paper, Table 1 (its own COCO val set), Recall@1 in percent: cited for comparison.
PAPER_RECALL_AT_1 = {"central_object": 37.46, "largest_object": 22.67}

OBJECT_BASELINES: dict[str, Callable[[list[Region], tuple[int, int]], np.ndarray]] = {
    "random": lambda regions, size: metrics.random_scores(len(regions)),
    "central_object": lambda regions, size: metrics.central_object_scores(regions, size),
    "largest_object": lambda regions, size: metrics.largest_object_scores(regions),
}
HUMAN_BASELINES: dict[str, Callable[[tuple[int, int]], np.ndarray]] = {
    "random": lambda size: metrics.random_scores(HUMAN_GRID * HUMAN_GRID),
    "center_prior": lambda size: metrics.center_prior_scores(
        HUMAN_GRID, HUMAN_GRID, image_size=size, pad_to_square=True
    ),
}
OBJECT_COLUMNS = ("width", "height", "objects", "target_index")
HUMAN_COLUMNS = ("width", "height", "human_patches")


@dataclass
class BaselineReport:
    """Mean score of each baseline on each metric over the rows of one set."""

    kind: str  # "object_importance" or "human_attention"
    n_rows: int
    scores: dict[str, dict[str, float]]  # baseline -> metric -> mean (fraction, not percent)
    n_skipped: int = 0  # rows a metric could not score (no human patch), left out of the means
    paper_recall_at_1: dict[str, float] = field(default_factory=dict)  # percent

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "n_rows": self.n_rows,
            "n_skipped": self.n_skipped,
            "scores": self.scores,
            "paper_recall_at_1_percent": self.paper_recall_at_1,
        }

    def table(self) -> str:
        """Fixed-width table in percent, with the paper's Recall@1 beside ours where cited."""
        metric_names = list(next(iter(self.scores.values())))
        headers = ["baseline", *metric_names] + (["paper recall_at_1"] if self.paper_recall_at_1 else [])
        lines = []
        for baseline, by_metric in self.scores.items():
            cells = [baseline] + [f"{100 * by_metric[name]:.2f}" for name in metric_names]
            if self.paper_recall_at_1:
                paper = self.paper_recall_at_1.get(baseline)
                cells.append(f"{paper:.2f}" if paper is not None else "-")
            lines.append(cells)
        widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]

        def render(row: list[str]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

        skipped = f", {self.n_skipped} skipped" if self.n_skipped else ""
        title = f"{self.kind}: {self.n_rows} rows{skipped} (scores in %)"
        return "\n".join([title, render(headers), render(["-" * w for w in widths]), *map(render, lines)])


def object_importance_baselines(rows: Iterable[dict]) -> BaselineReport:
    """Recall@1/2/3 and IoU@1 of each object baseline, averaged over rows."""
    per_row: dict[str, list[dict[str, float]]] = {name: [] for name in OBJECT_BASELINES}
    for row in rows:
        regions = object_regions(row)
        target = int(row["target_index"])
        size = (int(row["width"]), int(row["height"]))
        for name, scorer in OBJECT_BASELINES.items():
            scores = scorer(regions, size)
            mask_iou, box_iou = metrics.iou_at_1(scores, regions, target)
            recalls = {f"recall_at_{k}": metrics.recall_at_k(scores, target, k) for k in (1, 2, 3)}
            per_row[name].append({**recalls, "iou_at_1": mask_iou, "box_iou_at_1": box_iou})
    n_rows = len(per_row["random"])
    return BaselineReport("object_importance", n_rows, _means(per_row), paper_recall_at_1=dict(PAPER_RECALL_AT_1))


def human_attention_baselines(rows: Iterable[dict]) -> BaselineReport:
    """hit@3, precision@3 and NDCG@3 of each grid baseline; rows without patches are skipped."""
    per_row: dict[str, list[dict[str, float]]] = {name: [] for name in HUMAN_BASELINES}
    skipped = 0
    for row in rows:
        if not any(row["human_patches"]):
            skipped += 1
            continue
        size = (int(row["width"]), int(row["height"]))
        for name, scorer in HUMAN_BASELINES.items():
            per_row[name].append(metrics.human_patch_scores(scorer(size), row["human_patches"], k=3))
    return BaselineReport("human_attention", len(per_row["random"]), _means(per_row), n_skipped=skipped)


def _means(per_row: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean of each metric over rows, ignoring nan (an IoU with an empty union)."""
    if not next(iter(per_row.values())):
        raise ValueError("the set has no row that a baseline can score")
    return {
        name: {metric: float(np.nanmean([row[metric] for row in rows])) for metric in rows[0]}
        for name, rows in per_row.items()
    }


def load_built_set(path: Path) -> Dataset:
    """The evaluation split of a set saved by `pixelshap-eval build`."""
    path = Path(path)
    if not (path / "dataset_dict.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a built set (no dataset_dict.json); build one with `pixelshap-eval build`"
        )
    dataset = load_from_disk(str(path))
    if EVALUATION_SPLIT not in dataset:
        raise ValueError(f"{path} has no {EVALUATION_SPLIT!r} split (splits: {list(dataset)})")
    return dataset[EVALUATION_SPLIT]


def run_baselines(rows: Dataset) -> BaselineReport:
    """The baselines that fit the set's kind, told apart by its columns."""
    if all(column in rows.column_names for column in OBJECT_COLUMNS):
        return object_importance_baselines(rows.select_columns(list(OBJECT_COLUMNS)))
    if all(column in rows.column_names for column in HUMAN_COLUMNS):
        return human_attention_baselines(rows.select_columns(list(HUMAN_COLUMNS)))
    raise ValueError(
        f"cannot tell the set's kind from its columns {rows.column_names}: expected the object-importance "
        f"columns {list(OBJECT_COLUMNS)} or the human-attention columns {list(HUMAN_COLUMNS)}"
    )
