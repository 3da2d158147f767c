"""Per-player score arrays, shared by every metric: validation and tie bookkeeping.

Scores are a 1-D array, one per player, higher = more important (an attribution's estimates
or a baseline's scores). Tie convention: wherever a metric depends on the order of tied
players, it returns its EXPECTATION over a uniformly random tie-breaking, so an all-equal
attribution scores at chance level and never better than one that commits to an answer.

Ties are judged with a tolerance, not by exact equality: estimators leave float noise (~1e-9)
on players whose true score is equal, and noise must not decide a tie. Scores closer than
`tie_tolerance` (RELATIVE_TIE of the largest |score|, plus SE_TIE_FRACTION of the largest
standard error where the caller has them) are one tie group (`merge_ties`); `as_scores`
applies the scale part, so every metric judges ties alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RELATIVE_TIE = 1e-6  # scores closer than this fraction of the largest |score| are tied
SE_TIE_FRACTION = 1e-3  # ... or closer than this fraction of the largest standard error


def tie_tolerance(scores: np.ndarray, std_errors: Sequence[float] | np.ndarray | None = None) -> float:
    """How close two scores must be to count as tied: tied to the scores' scale and, where
    given, to their standard errors (non-finite ones are ignored)."""
    tolerance = RELATIVE_TIE * float(np.max(np.abs(scores))) if scores.size else 0.0
    if std_errors is not None:
        errors = np.asarray(std_errors, dtype=float)
        errors = errors[np.isfinite(errors)]
        if errors.size:
            tolerance += SE_TIE_FRACTION * float(errors.max())
    return tolerance


def merge_ties(scores: np.ndarray, tolerance: float) -> np.ndarray:
    """`scores` with each run of scores that are within `tolerance` of their neighbours (in
    sorted order) set to the run's lowest score, so that exact comparisons see them as tied."""
    if tolerance <= 0 or scores.size < 2:
        return scores
    order = np.argsort(scores, kind="stable")
    ascending = scores[order]
    starts = np.concatenate([[True], np.diff(ascending) > tolerance])
    merged = np.empty_like(scores)
    merged[order] = ascending[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return merged


def as_scores(scores: Sequence[float] | np.ndarray, name: str = "scores") -> np.ndarray:
    """`scores` as a finite 1-D float array with at least one player, scores within
    `tie_tolerance` of each other merged into ties."""
    array = np.asarray(scores, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one score per player), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: an attribution needs at least one player")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite scores; fix or drop them before scoring")
    return merge_ties(array, tie_tolerance(array))


def as_targets(target: int | Sequence[int] | np.ndarray, n_players: int) -> np.ndarray:
    """Unique target player indices, checked to be players of an n-player game."""
    array = np.atleast_1d(np.asarray(target))
    if array.size == 0:
        return np.zeros(0, dtype=int)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"target must be a player index or a sequence of indices, got {target!r}")
    bad = array[(array < 0) | (array >= n_players)]
    if bad.size:
        raise ValueError(
            f"target {bad.tolist()} is not a player: indices must lie in [0, {n_players}) for {n_players} players"
        )
    return np.unique(array)


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def ties(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per player: how many players score strictly higher, and the size of its tie group.

    Under random tie-breaking a player's rank (1-based) is uniform on
    higher + 1 .. higher + group.
    """
    ascending = np.sort(scores)
    left = np.searchsorted(ascending, scores, side="left")
    right = np.searchsorted(ascending, scores, side="right")
    return scores.size - right, right - left


def top_k_probability(scores: np.ndarray, k: int) -> np.ndarray:
    """Per player: the probability of being among the top k under random tie-breaking."""
    higher, group = ties(scores)
    probability: np.ndarray = np.clip(k - higher, 0, group) / group
    return probability


def top_players(scores: np.ndarray) -> np.ndarray:
    """Indices of the players tied for the highest score."""
    return np.flatnonzero(scores == scores.max())


def image_shape(image_size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) from an (W, H) image size, checked."""
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"image_size must be (width, height) with both positive, got {image_size!r}")
    width, height = (int(v) for v in image_size)
    return height, width


def as_map(array: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(array, dtype=float)
    if out.ndim != 2 or out.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (H, W), got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return out
