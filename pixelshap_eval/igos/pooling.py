"""A saliency map pooled onto the task's players, so the attribution metrics apply unchanged.

Objects: the mean saliency inside each region's mask; grid cells are regions too
(`players.grid_regions`), so a grid gets one score per cell the same way. An empty region (a cell
wholly in the padding of a padded-square grid) scores 0, the least salient a map can say.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pixelshap_eval.igos.blend import upsample
from pixelshap_eval.players import Region


def saliency_map(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """1 - the coarse `mask` upsampled (as during optimisation) to `size` = (width, height):
    high = salient (its deletion hurts the answer)."""
    width, height = size
    keep = upsample(torch.as_tensor(np.asarray(mask, dtype=np.float32)), (height, width))
    saliency: np.ndarray = 1.0 - keep.numpy().astype(np.float64)
    return saliency


def pool_scores(saliency: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """Mean of the (H, W) `saliency` inside each region's mask (one score per player)."""
    saliency = np.asarray(saliency, dtype=float)
    scores = np.empty(len(regions))
    for i, region in enumerate(regions):
        if region.mask.shape != saliency.shape:
            raise ValueError(
                f"region {region.label!r} has a {region.mask.shape} mask but the saliency map is {saliency.shape}: "
                "build players on the explained image"
            )
        scores[i] = saliency[region.mask].mean() if region.mask.any() else 0.0
    return scores
