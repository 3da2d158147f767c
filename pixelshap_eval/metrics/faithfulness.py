"""Faithfulness: does hiding what the attribution ranks first change the model's answer?

`similarity_drop` reads the leave-one-out coalitions; deletion and insertion curves hide (or
show) players in ranking order and are summarised by their normalised AUC (lower deletion
AUC and higher insertion AUC = more faithful).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from pixelshap_eval.metrics.scores import as_scores, top_players


def similarity_drop(
    value_full: float, loo_values: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float:
    """v(N) - v(N without the top-1 player), where loo_values[i] = v(N without i); averaged
    over the players tied for the top. Large = hiding the chosen player changes the answer."""
    array = as_scores(scores)
    loo = as_scores(loo_values, "loo_values")
    if loo.size != array.size:
        raise ValueError(f"got {array.size} scores but {loo.size} leave-one-out values: need one per player")
    if not math.isfinite(value_full):
        raise ValueError(f"value_full must be finite, got {value_full!r}")
    return float(value_full - loo[top_players(array)].mean())


def player_ranks(order: Sequence[int] | np.ndarray) -> np.ndarray:
    """rank[i] = position of player i in `order`, after checking it is a permutation."""
    array = np.asarray(order)
    n = array.size
    if array.ndim != 1 or n == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"order must be a non-empty 1-D sequence of player indices, got {order!r}")
    if not np.array_equal(np.sort(array), np.arange(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1} (each player once), got {array.tolist()}")
    ranks = np.empty(n, dtype=int)
    ranks[array] = np.arange(n)
    return ranks


def deletion_coalitions(order: Sequence[int] | np.ndarray) -> np.ndarray:
    """(n+1, n) bool coalitions: N, N minus order[0], N minus order[:2], ..., empty.
    Pass `ranking(scores)` (or any permutation) as `order`, most important first."""
    ranks = player_ranks(order)
    return ranks[None, :] >= np.arange(ranks.size + 1)[:, None]


def insertion_coalitions(order: Sequence[int] | np.ndarray) -> np.ndarray:
    """(n+1, n) bool coalitions: empty, {order[0]}, order[:2], ..., N."""
    ranks = player_ranks(order)
    return ranks[None, :] < np.arange(ranks.size + 1)[:, None]


def curve_auc(curve_values: Sequence[float] | np.ndarray, value_full: float, value_empty: float) -> float:
    """Trapezoid area under a deletion or insertion curve, normalised.

    Point j of the curve sits at x = j / (len - 1), the fraction of players removed or added;
    y = (v - v(empty)) / (v(N) - v(empty)), so y is 1 at the full image and 0 at the empty one
    and the AUC of a monotone curve lies in [0, 1] (non-monotone curves may leave it).
    Lower deletion AUC and higher insertion AUC = more faithful.
    Degenerate game, v(N) == v(empty) exactly: nothing to normalise by, so nan.
    """
    curve = as_scores(curve_values, "curve_values")
    if curve.size < 2:
        raise ValueError(f"a curve needs at least 2 points (n players give n + 1), got {curve.size}")
    if not (math.isfinite(value_full) and math.isfinite(value_empty)):
        raise ValueError(f"value_full and value_empty must be finite, got {value_full!r}, {value_empty!r}")
    if value_full == value_empty:
        return float("nan")
    normalised = (curve - value_empty) / (value_full - value_empty)
    return float(np.trapezoid(normalised, np.linspace(0.0, 1.0, curve.size)))


def _auc_of(coalitions: np.ndarray, value_of: Callable[[np.ndarray], float], full_row: int) -> float:
    curve = np.array([float(value_of(mask)) for mask in coalitions])
    return curve_auc(curve, curve[full_row], curve[-1 - full_row])


def deletion_auc(order: Sequence[int] | np.ndarray, value_of: Callable[[np.ndarray], float]) -> float:
    """Normalised AUC of the deletion curve of `order`; `value_of(mask)` returns v of a
    coalition (bool, True = visible). v(N) and v(empty) are the curve's own end points."""
    return _auc_of(deletion_coalitions(order), value_of, full_row=0)


def insertion_auc(order: Sequence[int] | np.ndarray, value_of: Callable[[np.ndarray], float]) -> float:
    """Normalised AUC of the insertion curve of `order` (see `deletion_auc`)."""
    return _auc_of(insertion_coalitions(order), value_of, full_row=-1)


