"""Which way is better for every metric a pixelshap task reports: the one table the task
YAMLs' `higher_is_better` entries are tested against (tests/test_metric_directions.py)."""

from __future__ import annotations

import re

HIGHER_IS_BETTER: dict[str, bool] = {
    # localisation
    "recall_at_1": True,
    "recall_at_2": True,
    "recall_at_3": True,
    "iou_at_1": True,
    "box_iou_at_1": True,
    "pointing_game": True,
    # faithfulness
    "similarity_drop": True,
    "deletion_auc": False,
    "insertion_auc": True,
    "road_morf_auc": False,
    "road_lerf_auc": True,
    "igos_deletion_auc": False,  # the iGOS reference metric (its blur, tokens and cell grid)
    "igos_insertion_auc": True,
    # plausibility
    "hit_at_3": True,
    "precision_at_3": True,
    "ndcg_at_3": True,
    "map_spearman": True,
    "map_auc": True,
    # document counts (summed, not averaged: lmms.counts)
    "documents_scored": True,
    "documents_skipped": False,
    "documents_failed": False,
}

# layer-wise tasks report a metric per decoder layer as `<metric>_layer_<NN>` (1-based, two
# digits at least): same direction as the metric itself
_LAYER_METRIC = re.compile(r"^(?P<metric>.+)_layer_(?P<layer>\d+)$")


def layer_metric_name(metric: str, layer: int) -> str:
    """The name of `metric` read at the 1-based decoder `layer` (`recall_at_1_layer_07`)."""
    return f"{metric}_layer_{layer:02d}"


def split_layer_metric(name: str) -> tuple[str, int] | None:
    """(metric, layer) of a per-layer metric name; None for any other name."""
    match = _LAYER_METRIC.match(name)
    return (match["metric"], int(match["layer"])) if match else None


def higher_is_better(name: str) -> bool | None:
    """The direction of any reported metric name, per-layer ones included; None if unknown."""
    split = split_layer_metric(name)
    return HIGHER_IS_BETTER.get(split[0] if split else name)
