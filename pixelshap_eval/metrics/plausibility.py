"""Plausibility: does the attribution agree with where people (or another map) say to look?

`human_patch_scores` ranks grid cells against the patches people chose; `map_plausibility`
compares a whole attribution map with a human (or attention) importance map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from pixelshap_eval.metrics.localisation import recall_at_k
from pixelshap_eval.metrics.scores import as_map, as_scores, check_k, ties, top_k_probability


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
    `grid.GridFrame.to_image` first. Returns
    - `spearman`: rank correlation of the two maps (average ranks for ties);
    - `auc`: ROC AUC of the attribution scores at separating the human map's top region
      (cells above the human map's mean) from the rest, ties counting one half.
    A constant human map has no top region and no ranking: both nan. A constant attribution
    map ranks nothing above anything; by the tie convention it gets the chance-level scores
    of a random ranking (spearman 0, auc 0.5), so failed attributions are not dropped from means.
    """
    attr = as_map(attr_map, "attr_map")
    human = as_map(human_map, "human_map")
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


def human_patch_scores(
    scores: Sequence[float] | np.ndarray, human_patches: Sequence[int], k: int = 3
) -> dict[str, float]:
    """hit@k, precision@k and NDCG@k of an attribution over grid cells against human patches.

    `scores[i]` scores grid cell i (0-based, row-major); `human_patches` holds 1-based cell
    indices, most important first; 0 means "none given" and is skipped, a repeated cell counts
    once (at its first place). The patch at place p (0-based) of the list has graded relevance
    len(human_patches) - p (3, 2, 1 for the usual three).
    - hit@k: probability that the top k contains a human patch;
    - precision@k: expected |top k ∩ human| / min(k, |human|), so a row with fewer than k
      human patches can still reach 1;
    - ndcg@k: expected DCG@k (gain = relevance, discount 1 / log2(rank + 1)) over the ideal DCG@k.
    All three are expectations over ties. No human patch at all: nan for all three.
    """
    array = as_scores(scores)
    k = check_k(k)
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
    precision = float(top_k_probability(array, k)[cells].sum() / min(k, cells.size))

    higher, group = ties(array)
    discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])  # discount[p] = sum of first p
    expected_discount = (discount[np.minimum(higher + group, k)] - discount[np.minimum(higher, k)]) / group
    ideal = np.sort(relevance)[::-1][:k]
    ndcg = float(np.sum(relevance * expected_discount[cells]) / np.sum(ideal * np.diff(discount)[: ideal.size]))
    return dict(zip(keys, (hit, precision, ndcg)))


