"""ROAD faithfulness at pixel level (Rong et al. 2022): remove pixels in attribution order,
fill them by noisy linear imputation (`pixelshap_eval.road`), and read the value curve.

MoRF removes the most relevant pixels first, LeRF the least relevant first, each at `points`
fractions 0, 1/(points-1), ..., 1 of the pixels (51 points: 2% steps). The pixel order comes
from a per-pixel attribution map, highest first, ties broken by a seeded random order (so the
pixels of one player leave in random order). Both curves run from the full image (0% removed)
to the fully imputed one (100%) and are summarised like deletion curves (`curve_auc`): the
trapezoid area of (v - v(100%)) / (v(0%) - v(100%)) over the fraction removed. Lower
`road_morf_auc` and higher `road_lerf_auc` = more faithful.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelshap_eval.metrics.faithfulness import player_ranks, curve_auc
from pixelshap_eval.metrics.scores import as_scores

ROAD_POINTS = 51
MORF, LERF = "morf", "lerf"


def road_fractions(points: int = ROAD_POINTS) -> np.ndarray:
    """The fractions of pixels removed at each curve point: 0, 1/(points-1), ..., 1."""
    if points < 2:
        raise ValueError(f"a ROAD curve needs at least 2 points (0% and 100% removed), got {points}")
    return np.linspace(0.0, 1.0, points)


def ranking_pixel_map(order: Sequence[int] | np.ndarray, masks: Sequence[np.ndarray]) -> np.ndarray:
    """(H, W) per-pixel importance of a player ranking (`order`, most important first): a
    pixel gets n - position of the best-ranked player covering it, and 0 if no player covers
    it (so pixels outside every player are the least relevant)."""
    ranks = player_ranks(order)
    if len(masks) != ranks.size:
        raise ValueError(f"the ranking has {ranks.size} players but {len(masks)} masks were given: need one per player")
    shape = np.asarray(masks[0]).shape
    importance = np.zeros(shape, dtype=float)
    for player, mask in enumerate(masks):
        pixels = np.asarray(mask, dtype=bool)
        if pixels.shape != shape:
            raise ValueError(f"player {player}'s mask has shape {pixels.shape}, expected {shape} like the first")
        importance[pixels] = np.maximum(importance[pixels], ranks.size - ranks[player])
    return importance


def pixel_order(attribution_map: np.ndarray, seed: int) -> np.ndarray:
    """Flat pixel indices, most relevant first; equal values in a seeded random order."""
    values = np.asarray(attribution_map, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"an attribution map must be a non-empty (H, W) array, got shape {values.shape}")
    flat = as_scores(values.ravel(), "attribution_map")
    tie_break = np.random.default_rng(seed).random(flat.size)
    return np.lexsort((tie_break, -flat))


def removed_pixels(order: np.ndarray, shape: tuple[int, int], fraction: float, direction: str) -> np.ndarray:
    """(H, W) bool: the pixels removed at `fraction` of a MoRF (first of `order`) or LeRF
    (last of `order`) curve; round(fraction * H * W) of them."""
    total = shape[0] * shape[1]
    if np.asarray(order).size != total:
        raise ValueError(f"the pixel order has {np.asarray(order).size} entries but the image has {total} pixels")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"the fraction removed must be in [0, 1], got {fraction}")
    count = int(round(fraction * total))
    if direction == MORF:
        chosen = order[:count]
    elif direction == LERF:
        chosen = order[total - count :]
    else:
        raise ValueError(f"a ROAD direction is {MORF!r} or {LERF!r}, got {direction!r}")
    removed = np.zeros(total, dtype=bool)
    removed[chosen] = True
    return removed.reshape(shape)


def road_auc(curve_values: Sequence[float] | np.ndarray) -> float:
    """Normalised AUC of a MoRF or LeRF curve given at equally spaced fractions removed, from
    0% (the full image) to 100%; nan when the two ends are equal (nothing to normalise by)."""
    curve = as_scores(curve_values, "curve_values")
    if curve.size < 2:
        raise ValueError(f"a ROAD curve needs at least 2 points, got {curve.size}")
    return curve_auc(curve, float(curve[0]), float(curve[-1]))
