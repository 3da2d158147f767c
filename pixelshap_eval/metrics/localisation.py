"""Localisation: does the attribution point at the object the question is about?

Target retrieval over object players (`recall_at_k`, `iou_at_1`) and the pixel-map pointing
game (`attribution_map` spreads player scores over their pixels, `pointing_game` checks where
the map peaks). Higher is better for all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pixelshap_eval.metrics.scores import as_map, as_scores, as_targets, check_k, image_shape, top_players
from pixelshap_eval.players import Box, Region


def ranking(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Player indices, highest score first; ties by lower index (for display only: metrics
    take the expectation over ties instead)."""
    array = as_scores(scores)
    return np.argsort(-array, kind="stable")


def recall_at_k(scores: Sequence[float] | np.ndarray, target: int | Sequence[int] | np.ndarray, k: int) -> float:
    """Probability that a target player (any of them, when several) is among the top k.

    nan when `target` is empty; 1.0 when k >= number of players. Only the tie group that
    straddles rank k is random: if r of its m places fall inside the top k and t targets lie
    in it, the chance that none of them is drawn is C(m - t, r) / C(m, r).
    """
    array = as_scores(scores)
    targets = as_targets(target, array.size)
    k = check_k(k)
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
    scores: Sequence[float] | np.ndarray, regions: Sequence[Region], target: Region | int
) -> tuple[float, float]:
    """(mask IoU, box IoU) of the top-ranked player's region with the target region, each
    averaged over the players tied for the top. `target` is a Region, or the index of one in
    `regions`. An IoU whose union is empty (both masks or boxes empty) is nan."""
    array = as_scores(scores)
    if len(regions) != array.size:
        raise ValueError(f"got {array.size} scores but {len(regions)} regions: there must be one value per region")
    if not isinstance(target, Region):
        target = regions[int(as_targets(target, array.size)[0])]
    top = [regions[i] for i in top_players(array)]
    for region in top:
        if region.mask.shape != target.mask.shape:
            raise ValueError(
                f"region {region.label!r} has mask shape {region.mask.shape} but the target "
                f"{target.label!r} has {target.mask.shape}: both must live on the same image"
            )
    mask_iou = float(np.mean([_mask_iou(region.mask, target.mask) for region in top]))
    box_iou = float(np.mean([_box_iou(region.box, target.box) for region in top]))
    return mask_iou, box_iou


def attribution_map(
    scores: Sequence[float] | np.ndarray, regions: Sequence[Region], image_size: tuple[int, int]
) -> np.ndarray:
    """(H, W) attribution density: each region's value spread evenly over its pixels
    (value / area per pixel), overlapping regions adding up; empty regions add nothing."""
    array = as_scores(scores)
    if len(regions) != array.size:
        raise ValueError(f"got {array.size} scores but {len(regions)} regions: there must be one value per region")
    shape = image_shape(image_size)
    density = np.zeros(shape, dtype=float)
    for value, region in zip(array, regions):
        if region.mask.shape != shape:
            raise ValueError(
                f"region {region.label!r} has mask shape {region.mask.shape}, expected {shape} for image_size {image_size}"
            )
        if region.area:
            density[region.mask] += value / region.area
    return density


def pointing_game(attr_map: np.ndarray, target_mask: np.ndarray, tolerance: float = 15) -> float:
    """1.0 if the map's maximum lies within `tolerance` pixels (Euclidean) of the target mask,
    else 0.0; with tied maxima, the fraction of them that hit (the expectation over picking
    one at random). nan when the target mask is empty."""
    attr = as_map(attr_map, "attr_map")
    target = np.asarray(target_mask, dtype=bool)
    if target.shape != attr.shape:
        raise ValueError(f"target_mask has shape {target.shape} but attr_map has {attr.shape}: they must match")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}")
    if not target.any():
        return float("nan")
    distance = ndimage.distance_transform_edt(~target)
    return float(np.mean(distance[attr == attr.max()] <= tolerance))


