"""Which way is better for every metric a pixelshap task reports: the one table the task
YAMLs' `higher_is_better` entries are tested against (tests/test_metric_directions.py)."""

from __future__ import annotations

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
