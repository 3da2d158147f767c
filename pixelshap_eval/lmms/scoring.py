"""From one document's solved attribution to its per-document metrics.

Metric names are stable (leaderboards and release checks key on them; their directions are
`metrics.HIGHER_IS_BETTER`): object tasks `recall_at_1..3`, `iou_at_1`, `box_iou_at_1`,
`pointing_game`, `similarity_drop`, `deletion_auc`, `insertion_auc`; human and attention
tasks `hit_at_3`, `precision_at_3`, `ndcg_at_3`, `map_spearman`, `map_auc`,
`similarity_drop`, `deletion_auc`, `insertion_auc`. A metric that is undefined for a document
(no target among the players, a degenerate game, curves the plan does not cover) is left out
of that document's metrics rather than reported as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np

from pixelshap_eval import metrics
from pixelshap_eval.data.schema import HUMAN_GRID
from pixelshap_eval.grid import GridFrame
from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.metrics.scores import merge_ties, tie_tolerance
from pixelshap_eval.shapley import Attribution, Coalitions

RowOf = Callable[[np.ndarray], int | None]


def object_metrics(players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
    """Localisation and faithfulness of an attribution over object players."""
    scores = tied_scores(attribution)
    found: dict[str, float] = {}
    if players.target_index is not None:
        for k in (1, 2, 3):
            found[f"recall_at_{k}"] = metrics.recall_at_k(scores, players.target_index, k)
    elif players.target_region is not None:
        found.update({f"recall_at_{k}": 0.0 for k in (1, 2, 3)})
    target = players.target_region
    if target is not None:
        found["iou_at_1"], found["box_iou_at_1"] = metrics.iou_at_1(scores, players.regions, target)
        density = metrics.attribution_map(scores, players.regions, target.size)
        found["pointing_game"] = metrics.pointing_game(density, target.mask)
    found.update(plan_metrics(attribution, plan, values))
    return defined_metrics(found)


def grid_metrics(
    doc: dict, frame: GridFrame, attribution: Attribution, plan: Coalitions, values: np.ndarray
) -> dict[str, float]:
    """Plausibility (against the people's patches and importance map) and faithfulness of an
    attribution over the cells of `frame`. The patch metrics need the patches' own grid (12 x 12
    on the padded square); the map metrics compare any grid, both maps put on the image."""
    human_frame = GridFrame(frame.width, frame.height, HUMAN_GRID, HUMAN_GRID, pad_to_square=True)
    found: dict[str, float] = {}
    if frame == human_frame:
        found.update(metrics.human_patch_scores(tied_scores(attribution), list(doc["human_patches"]), k=3))
    on_image = frame.to_image(attribution.scores.reshape(frame.rows, frame.cols))
    human_on_image = human_frame.to_image(np.asarray(doc["human_map"], dtype=float))
    agreement = metrics.map_plausibility(on_image, human_on_image)
    found["map_spearman"], found["map_auc"] = agreement["spearman"], agreement["auc"]
    found.update(plan_metrics(attribution, plan, values))
    return defined_metrics(found)


def plan_metrics(attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
    """Metrics read off the planned coalitions without extra model calls: the similarity drop
    (leave-one-out rows) and the deletion/insertion curves where the plan covers them."""
    found: dict[str, float] = {}
    n = plan.n_players
    scores = tied_scores(attribution)
    if plan.has_leave_one_out:
        found["similarity_drop"] = metrics.similarity_drop(float(values[1]), values[2 : n + 2], scores)
    found.update(curve_metrics(metrics.ranking(scores), plan.index_of, values))
    return found


def tied_scores(attribution: Attribution) -> np.ndarray:
    """The attribution's scores with ties judged at its own scale and standard errors, so that
    estimator noise on players of equal worth does not decide their order."""
    return merge_ties(attribution.scores, tie_tolerance(attribution.scores, attribution.std_errors))


def curve_metrics(order: np.ndarray, row_of: RowOf, values: np.ndarray) -> dict[str, float]:
    """Deletion and insertion AUC of `order`, when `row_of(mask)` finds every curve coalition."""
    coalition_values = np.asarray(values, dtype=float)
    found: dict[str, float] = {}
    for name, coalitions, auc in (
        ("deletion_auc", metrics.deletion_coalitions(order), metrics.deletion_auc),
        ("insertion_auc", metrics.insertion_coalitions(order), metrics.insertion_auc),
    ):
        found_rows = {mask.tobytes(): row_of(mask) for mask in coalitions}
        rows = {key: row for key, row in found_rows.items() if row is not None}
        if len(rows) < len(found_rows):
            continue
        found[name] = auc(order, partial(_row_value, coalition_values, rows))
    return found


def _row_value(coalition_values: np.ndarray, rows: dict[bytes, int], mask: np.ndarray) -> float:
    """v of the curve coalition `mask`, looked up by its planned row."""
    return float(coalition_values[rows[mask.tobytes()]])


def defined_metrics(found: dict[str, float]) -> dict[str, float]:
    """The metrics that are defined (finite numbers)."""
    return {name: float(value) for name, value in found.items() if value is not None and math.isfinite(value)}
