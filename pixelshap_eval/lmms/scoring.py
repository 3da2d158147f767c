"""From one document's solved attribution to its per-document metric values.

Metric names are stable (leaderboards and release checks key on them):
object tasks `recall_at_1..3`, `iou_at_1`, `box_iou_at_1`, `similarity_drop`,
`deletion_auc`, `insertion_auc`; human tasks `hit_at_3`, `precision_at_3`, `ndcg_at_3`,
`deletion_auc`, `insertion_auc`. A metric that is undefined for a document (no target
among the players, a degenerate game, curves the plan does not cover) is left out of that
document's scores rather than reported as a number.
"""

from __future__ import annotations

import math

import numpy as np

from pixelshap_eval import metrics
from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.shapley import Attribution, Coalitions


def object_scores(players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
    """Target retrieval and faithfulness of an attribution over object players."""
    scores: dict[str, float] = {}
    if players.target_index is not None:
        for k in (1, 2, 3):
            scores[f"recall_at_{k}"] = metrics.recall_at_k(attribution.values, players.target_index, k)
    elif players.target_region is not None:
        scores.update({f"recall_at_{k}": 0.0 for k in (1, 2, 3)})
    if players.target_region is not None:
        mask_iou, box_iou = metrics.iou_at_1(attribution.values, players.regions, players.target_region)
        scores["iou_at_1"], scores["box_iou_at_1"] = mask_iou, box_iou
    scores.update(plan_scores(attribution, plan, values))
    return defined_scores(scores)


def human_scores(human_patches: list[int], attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
    """Agreement of an attribution over grid cells with the patches people chose."""
    scores = dict(metrics.human_patch_scores(attribution.values, human_patches, k=3))
    scores.update(plan_scores(attribution, plan, values))
    return defined_scores(scores)


def plan_scores(attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
    """Scores read off the planned coalitions without extra model calls: the similarity drop
    (leave-one-out rows) and the deletion/insertion curves where the plan covers them."""
    scores: dict[str, float] = {}
    n = plan.n_players
    if plan.has_leave_one_out:
        scores["similarity_drop"] = metrics.similarity_drop(float(values[1]), values[2 : n + 2], attribution.values)
    order = metrics.ranking(attribution.values)
    scores.update(curve_scores(order, plan.index_of, values))
    return scores


def curve_scores(order: np.ndarray, row_of, values: np.ndarray) -> dict[str, float]:
    """Deletion and insertion AUC of `order`, when `row_of(mask)` finds every curve coalition."""
    scores: dict[str, float] = {}
    for name, coalitions in (("deletion_auc", metrics.deletion_coalitions(order)), ("insertion_auc", metrics.insertion_coalitions(order))):
        rows = [row_of(mask) for mask in coalitions]
        if any(row is None for row in rows):
            continue
        curve = np.asarray(values, dtype=float)[rows]
        full, empty = (curve[0], curve[-1]) if name == "deletion_auc" else (curve[-1], curve[0])
        scores[name] = metrics.curve_auc(curve, full, empty)
    return scores


def defined_scores(scores: dict[str, float]) -> dict[str, float]:
    """The scores that are defined (finite numbers)."""
    return {name: float(value) for name, value in scores.items() if value is not None and math.isfinite(value)}
