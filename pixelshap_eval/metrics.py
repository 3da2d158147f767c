"""Scores of one attribution, and model-free baselines scored the same way.

An attribution is a 1-D array `values`, one score per player; higher means more important.

Tie convention: wherever a metric depends on the order of tied players, it returns its
EXPECTATION over a uniformly random tie-breaking. So an all-equal attribution scores at chance
level (recall@1 = 1/n) and never better than an attribution that commits to an answer, and
`random_scores(n)` (all equal) is the exact expected score of a random ranking. `ranking`
alone breaks ties by lower index, for display.

Groups of metrics:

- target retrieval (object players): `recall_at_k`, `iou_at_1`, `similarity_drop`;
- faithfulness: deletion / insertion curves and their normalised AUC;
- pixel maps: `attribution_map`, `pointing_game`, `map_plausibility`, `grid_map_to_image`;
- human patches (grid players): `human_patch_scores`;
- baselines: `central_object_scores`, `largest_object_scores`, `random_scores`,
  `center_prior_scores`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage, stats

from pixelshap_eval.players import Box, PaddedSquare, Region

# ---------------------------------------------------------------------------------------------
# validation and tie bookkeeping


def _as_values(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    """`values` as a finite 1-D float array with at least one player."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (one score per player), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: an attribution needs at least one player")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite scores; fix or drop them before scoring")
    return array


def _as_targets(target: int | Sequence[int] | np.ndarray, n_players: int) -> np.ndarray:
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


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _ties(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per player: how many players score strictly higher, and the size of its tie group.

    Under random tie-breaking a player's rank (1-based) is uniform on
    higher + 1 .. higher + group.
    """
    ascending = np.sort(values)
    left = np.searchsorted(ascending, values, side="left")
    right = np.searchsorted(ascending, values, side="right")
    return values.size - right, right - left


def _top_k_probability(values: np.ndarray, k: int) -> np.ndarray:
    """Per player: the probability of being among the top k under random tie-breaking."""
    higher, group = _ties(values)
    return np.clip(k - higher, 0, group) / group


def _top_players(values: np.ndarray) -> np.ndarray:
    """Indices of the players tied for the highest score."""
    return np.flatnonzero(values == values.max())


# ---------------------------------------------------------------------------------------------
# target retrieval


def ranking(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Player indices, highest score first; ties by lower index (for display only: metrics
    take the expectation over ties instead)."""
    array = _as_values(values)
    return np.argsort(-array, kind="stable")


def recall_at_k(values: Sequence[float] | np.ndarray, target: int | Sequence[int], k: int) -> float:
    """Probability that a target player (any of them, when several) is among the top k.

    nan when `target` is empty; 1.0 when k >= number of players. Only the tie group that
    straddles rank k is random: if r of its m places fall inside the top k and t targets lie
    in it, the chance that none of them is drawn is C(m - t, r) / C(m, r).
    """
    array = _as_values(values)
    targets = _as_targets(target, array.size)
    k = _check_k(k)
    if targets.size == 0:
        return float("nan")
    if k >= array.size:
        return 1.0
    boundary = np.sort(array)[::-1][k - 1]
    if np.any(array[targets] > boundary):
        return 1.0
    tied_targets = int(np.sum(array[targets] == boundary))
    if tied_targets == 0:
        return 0.0
    group = int(np.sum(array == boundary))
    places = k - int(np.sum(array > boundary))
    return 1.0 - math.comb(group - tied_targets, places) / math.comb(group, places)


def _mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def _box_iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else float("nan")


def iou_at_1(
    values: Sequence[float] | np.ndarray, regions: Sequence[Region], target: Region | int
) -> tuple[float, float]:
    """(mask IoU, box IoU) of the top-ranked player's region with the target region, each
    averaged over the players tied for the top. `target` is a Region, or the index of one in
    `regions`. An IoU whose union is empty (both masks or boxes empty) is nan."""
    array = _as_values(values)
    if len(regions) != array.size:
        raise ValueError(f"got {array.size} values but {len(regions)} regions: there must be one value per region")
    if not isinstance(target, Region):
        target = regions[int(_as_targets(target, array.size)[0])]
    top = [regions[i] for i in _top_players(array)]
    for region in top:
        if region.mask.shape != target.mask.shape:
            raise ValueError(
                f"region {region.label!r} has mask shape {region.mask.shape} but the target "
                f"{target.label!r} has {target.mask.shape}: both must live on the same image"
            )
    mask_iou = float(np.mean([_mask_iou(region.mask, target.mask) for region in top]))
    box_iou = float(np.mean([_box_iou(region.box, target.box) for region in top]))
    return mask_iou, box_iou


def similarity_drop(
    value_full: float, loo_values: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> float:
    """v(N) - v(N without the top-1 player), where loo_values[i] = v(N without i); averaged
    over the players tied for the top. Large = hiding the chosen player changes the answer."""
    array = _as_values(values)
    loo = _as_values(loo_values, "loo_values")
    if loo.size != array.size:
        raise ValueError(f"got {array.size} values but {loo.size} leave-one-out values: need one per player")
    if not math.isfinite(value_full):
        raise ValueError(f"value_full must be finite, got {value_full!r}")
    return float(value_full - loo[_top_players(array)].mean())


# ---------------------------------------------------------------------------------------------
# deletion / insertion


def _player_ranks(order: Sequence[int] | np.ndarray) -> np.ndarray:
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
    Pass `ranking(values)` (or any permutation) as `order`, most important first."""
    ranks = _player_ranks(order)
    return ranks[None, :] >= np.arange(ranks.size + 1)[:, None]


def insertion_coalitions(order: Sequence[int] | np.ndarray) -> np.ndarray:
    """(n+1, n) bool coalitions: empty, {order[0]}, order[:2], ..., N."""
    ranks = _player_ranks(order)
    return ranks[None, :] < np.arange(ranks.size + 1)[:, None]


def curve_auc(curve_values: Sequence[float] | np.ndarray, value_full: float, value_empty: float) -> float:
    """Trapezoid area under a deletion or insertion curve, normalised.

    Point j of the curve sits at x = j / (len - 1), the fraction of players removed or added;
    y = (v - v(empty)) / (v(N) - v(empty)), so y is 1 at the full image and 0 at the empty one
    and the AUC of a monotone curve lies in [0, 1] (non-monotone curves may leave it).
    Lower deletion AUC and higher insertion AUC = more faithful.
    Degenerate game, v(N) == v(empty) exactly: nothing to normalise by, so nan.
    """
    curve = _as_values(curve_values, "curve_values")
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


# ---------------------------------------------------------------------------------------------
# pixel maps


def _image_shape(image_size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) from an (W, H) image size, checked."""
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"image_size must be (width, height) with both positive, got {image_size!r}")
    width, height = (int(v) for v in image_size)
    return height, width


def attribution_map(
    values: Sequence[float] | np.ndarray, regions: Sequence[Region], image_size: tuple[int, int]
) -> np.ndarray:
    """(H, W) attribution density: each region's value spread evenly over its pixels
    (value / area per pixel), overlapping regions adding up; empty regions add nothing."""
    array = _as_values(values)
    if len(regions) != array.size:
        raise ValueError(f"got {array.size} values but {len(regions)} regions: there must be one value per region")
    shape = _image_shape(image_size)
    density = np.zeros(shape, dtype=float)
    for value, region in zip(array, regions):
        if region.mask.shape != shape:
            raise ValueError(
                f"region {region.label!r} has mask shape {region.mask.shape}, expected {shape} for image_size {image_size}"
            )
        if region.area:
            density[region.mask] += value / region.area
    return density


def _as_map(array: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(array, dtype=float)
    if out.ndim != 2 or out.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (H, W), got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return out


def pointing_game(attr_map: np.ndarray, target_mask: np.ndarray, tolerance: float = 15) -> float:
    """1.0 if the map's maximum lies within `tolerance` pixels (Euclidean) of the target mask,
    else 0.0; with tied maxima, the fraction of them that hit (the expectation over picking
    one at random). nan when the target mask is empty."""
    attr = _as_map(attr_map, "attr_map")
    target = np.asarray(target_mask, dtype=bool)
    if target.shape != attr.shape:
        raise ValueError(f"target_mask has shape {target.shape} but attr_map has {attr.shape}: they must match")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if not target.any():
        return float("nan")
    distance = ndimage.distance_transform_edt(~target)
    return float(np.mean(distance[attr == attr.max()] <= tolerance))


def _block_mean(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean of `array` over blocks: each source pixel goes to the target cell holding its
    centre. Only for shrinking (every target cell then gets at least one pixel)."""
    height, width = array.shape
    rows = ((np.arange(height) + 0.5) * shape[0] / height).astype(int)
    cols = ((np.arange(width) + 0.5) * shape[1] / width).astype(int)
    cell = (rows[:, None] * shape[1] + cols[None, :]).ravel()
    size = shape[0] * shape[1]
    sums = np.bincount(cell, weights=array.ravel(), minlength=size)
    counts = np.bincount(cell, minlength=size)
    return (sums / counts).reshape(shape)


def map_plausibility(attr_map: np.ndarray, human_map: np.ndarray) -> dict[str, float]:
    """Agreement of an attribution map with a human importance map of the same frame.

    Maps of different shapes are both block-averaged to the smaller shape (min of each
    side), so they must cover the same area: put a padded-square grid map on the image with
    `grid_map_to_image` first. Returns
    - `spearman`: rank correlation of the two maps (average ranks for ties);
    - `auc`: ROC AUC of the attribution scores at separating the human map's top region
      (cells above the human map's mean) from the rest, ties counting one half.
    A constant human map has no top region and no ranking: both nan. A constant attribution
    map ranks nothing above anything; by the tie convention it gets the chance-level scores
    of a random ranking (spearman 0, auc 0.5), so failed attributions are not dropped from means.
    """
    attr = _as_map(attr_map, "attr_map")
    human = _as_map(human_map, "human_map")
    shape = (min(attr.shape[0], human.shape[0]), min(attr.shape[1], human.shape[1]))
    attr = _block_mean(attr, shape).ravel() if attr.shape != shape else attr.ravel()
    human = _block_mean(human, shape).ravel() if human.shape != shape else human.ravel()
    if np.ptp(human) == 0:
        return {"spearman": float("nan"), "auc": float("nan")}
    if np.ptp(attr) == 0:
        return {"spearman": 0.0, "auc": 0.5}
    spearman = float(stats.spearmanr(attr, human).statistic)
    positive = human > human.mean()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = stats.rankdata(attr)
    auc = (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {"spearman": spearman, "auc": float(auc)}


def grid_map_to_image(grid_map: np.ndarray, image_size: tuple[int, int], pad_to_square: bool = True) -> np.ndarray:
    """(H, W) map of the original image whose pixels take the value of the grid cell they fall
    in; with `pad_to_square` the grid lies on LLaVA's padded square (as the human patches do),
    else on the image itself. Use it to compare a 12x12 human map with an object map."""
    grid = _as_map(grid_map, "grid_map")
    height, width = _image_shape(image_size)
    rows, cols = grid.shape
    if pad_to_square:
        index = PaddedSquare(width, height).cell_index_map(rows, cols)
    else:
        index = (np.arange(height) * rows // height)[:, None] * cols + (np.arange(width) * cols // width)[None, :]
    return grid.ravel()[index]


# ---------------------------------------------------------------------------------------------
# human patches


def human_patch_scores(
    values: Sequence[float] | np.ndarray, human_patches: Sequence[int], k: int = 3
) -> dict[str, float]:
    """hit@k, precision@k and NDCG@k of an attribution over grid cells against human patches.

    `values[i]` scores grid cell i (0-based, row-major); `human_patches` holds 1-based cell
    indices, most important first; 0 means "none given" and is skipped, a repeated cell counts
    once (at its first place). The patch at place p (0-based) of the list has graded relevance
    len(human_patches) - p (3, 2, 1 for the usual three).
    - hit@k: probability that the top k contains a human patch;
    - precision@k: expected |top k ∩ human| / min(k, |human|), so a row with fewer than k
      human patches can still reach 1;
    - ndcg@k: expected DCG@k (gain = relevance, discount 1 / log2(rank + 1)) over the ideal DCG@k.
    All three are expectations over ties. No human patch at all: nan for all three.
    """
    array = _as_values(values)
    k = _check_k(k)
    patches = np.asarray(human_patches)
    if patches.ndim != 1 or (patches.size and not np.issubdtype(patches.dtype, np.integer)):
        raise ValueError(f"human_patches must be a 1-D sequence of 1-based cell indices, got {human_patches!r}")
    bad = patches[(patches < 0) | (patches > array.size)]
    if bad.size:
        raise ValueError(
            f"human patches {bad.tolist()} are not cells of this {array.size}-cell grid: use 1..{array.size} (0 = none)"
        )
    keys = (f"hit_at_{k}", f"precision_at_{k}", f"ndcg_at_{k}")
    given = patches > 0
    cells, first = np.unique(patches[given] - 1, return_index=True)
    if cells.size == 0:
        return dict.fromkeys(keys, float("nan"))
    relevance = (patches.size - np.flatnonzero(given)[first]).astype(float)

    hit = recall_at_k(array, cells, k)
    precision = float(_top_k_probability(array, k)[cells].sum() / min(k, cells.size))

    higher, group = _ties(array)
    discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])  # discount[p] = sum of first p
    expected_discount = (discount[np.minimum(higher + group, k)] - discount[np.minimum(higher, k)]) / group
    ideal = np.sort(relevance)[::-1][:k]
    ndcg = float(np.sum(relevance * expected_discount[cells]) / np.sum(ideal * np.diff(discount)[: ideal.size]))
    return dict(zip(keys, (hit, precision, ndcg)))


# ---------------------------------------------------------------------------------------------
# model-free baselines: score arrays that the metrics above accept like attributions


def _check_regions(regions: Sequence[Region]) -> None:
    if len(regions) == 0:
        raise ValueError("regions is empty: a baseline needs at least one player")


def central_object_scores(regions: Sequence[Region], image_size: tuple[int, int]) -> np.ndarray:
    """Closeness of each region's box centre to the image centre: 1 - distance / half the
    image diagonal (1 at the centre, 0 at a corner). The "central object" baseline."""
    _check_regions(regions)
    height, width = _image_shape(image_size)
    boxes = np.array([region.box for region in regions], dtype=float)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    distance = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    return 1.0 - distance / np.hypot(width / 2, height / 2)


def largest_object_scores(regions: Sequence[Region]) -> np.ndarray:
    """Mask area of each region in pixels. The "largest object" baseline."""
    _check_regions(regions)
    return np.array([region.area for region in regions], dtype=float)


def random_scores(n: int) -> np.ndarray:
    """n equal scores. By the tie convention every metric of these is the exact expectation
    over uniformly random rankings: the "random" baseline without sampling noise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of players, got {n!r}")
    return np.zeros(int(n))


def center_prior_scores(
    rows: int, cols: int, image_size: tuple[int, int] | None = None, pad_to_square: bool = False
) -> np.ndarray:
    """Score of each grid cell (0-based, row-major): closeness of its centre to the centre of
    the frame the grid lies on, 1 - distance / half the frame diagonal.

    The frame is the image (`image_size` = (W, H); None: a square), or with `pad_to_square`
    the padded square (LLaVA "pad", the human patches' grid), which shares the image's centre.
    Symmetric cells tie exactly (e.g. the 4 central cells of a 12x12 grid).
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"grid needs at least one row and one column, got {rows}x{cols}")
    if image_size is None or pad_to_square:
        frame_w = frame_h = 1.0
    else:
        frame_h, frame_w = (float(v) for v in _image_shape(image_size))
    # offsets from the centre in cell units are exact half-integers, so mirror cells tie exactly
    dy = (np.arange(rows) + 0.5 - rows / 2) * (frame_h / rows)
    dx = (np.arange(cols) + 0.5 - cols / 2) * (frame_w / cols)
    distance = np.hypot(dy[:, None], dx[None, :]).ravel()
    return 1.0 - distance / np.hypot(frame_w / 2, frame_h / 2)
