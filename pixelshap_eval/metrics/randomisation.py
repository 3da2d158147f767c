"""Randomisation: model-free reference rankings that every property is measured against.

Per-player score arrays that the metrics accept like attributions: `random_scores` (all
equal, so every metric gives its exact expectation over random rankings, the chance level)
and the priors a model could follow without looking (central object, largest object,
centre of the frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pixelshap_eval.metrics.scores import image_shape
from pixelshap_eval.players import Region


def _check_regions(regions: Sequence[Region]) -> None:
    if len(regions) == 0:
        raise ValueError("regions is empty: a baseline needs at least one player")


def central_object_scores(regions: Sequence[Region], image_size: tuple[int, int]) -> np.ndarray:
    """Closeness of each region's box centre to the image centre: 1 - distance / half the
    image diagonal (1 at the centre, 0 at a corner). The "central object" baseline."""
    _check_regions(regions)
    height, width = image_shape(image_size)
    boxes = np.array([region.box for region in regions], dtype=float)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    distance = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    closeness: np.ndarray = 1.0 - distance / np.hypot(width / 2, height / 2)
    return closeness


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
        frame_h, frame_w = (float(v) for v in image_shape(image_size))
    # offsets from the centre in cell units are exact half-integers, so mirror cells tie exactly
    dy = (np.arange(rows) + 0.5 - rows / 2) * (frame_h / rows)
    dx = (np.arange(cols) + 0.5 - cols / 2) * (frame_w / cols)
    distance = np.hypot(dy[:, None], dx[None, :]).ravel()
    closeness: np.ndarray = 1.0 - distance / np.hypot(frame_w / 2, frame_h / 2)
    return closeness
