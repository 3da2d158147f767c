"""The raw masks of an iGOS sample record, as pictures beside its pooled heatmap.

The pooled heatmap shows 1 - M averaged inside each player; the coarse mask itself (its grid,
where the optimisation went) is lost there. So the report also shows M on its own grid, each
cell one grey level (black = deleted, i.e. salient; white = kept), stretched to the image's
shape with nearest-neighbour so the cells stay visible: iGOS+ has one mask, iGOS++ its
deletion and insertion masks and their product (the mask that is pooled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

MASK_SIDE = 240  # the longer side of a drawn mask, in pixels (the report's figure width)
IGOS_PLUS_PLUS_NAMES = ("deletion mask", "insertion mask")


@dataclass(frozen=True)
class MaskPicture:
    """One drawn mask and what it is."""

    image: Image.Image
    name: str
    mask_size: tuple[int, int]  # rows, cols of the coarse grid


def mask_image(mask: Sequence[Sequence[float]] | np.ndarray, image_size: tuple[int, int] | None = None) -> Image.Image:
    """A coarse mask in [0, 1] as a greyscale picture with the image's aspect (width, height)."""
    values = np.clip(np.asarray(mask, dtype=float), 0.0, 1.0)
    if values.ndim != 2 or not values.size:
        raise ValueError(f"an iGOS mask is a 2-d grid, got shape {values.shape}")
    grey = Image.fromarray(np.round(values * 255.0).astype(np.uint8), mode="L")
    width, height = image_size or (values.shape[1], values.shape[0])
    scale = MASK_SIDE / max(width, height)
    return grey.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.NEAREST)


def igos_mask_pictures(record: dict) -> list[MaskPicture]:
    """The pictures of a record's raw masks; none for a record without a mask (Shapley, skipped)."""
    if not record.get("mask"):
        return []
    size = (int(record["image_size"][0]), int(record["image_size"][1])) if record.get("image_size") else None
    product = np.asarray(record["mask"], dtype=float)
    shape = (int(product.shape[0]), int(product.shape[1]))
    masks = record.get("masks") or []
    pictures = []
    if len(masks) > 1:
        names = IGOS_PLUS_PLUS_NAMES if len(masks) == len(IGOS_PLUS_PLUS_NAMES) else tuple(f"mask {i + 1}" for i in range(len(masks)))
        pictures = [MaskPicture(mask_image(m, size), name, shape) for m, name in zip(masks, names)]
    pictures.append(MaskPicture(mask_image(product, size), "product (pooled)" if len(masks) > 1 else "mask (pooled)", shape))
    return pictures
