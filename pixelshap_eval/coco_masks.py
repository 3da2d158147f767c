"""The one COCO segmentation -> mask path: polygons, uncompressed RLE (crowd annotations) or
compressed RLE, validated with messages that name the annotation. Player builders and the
COCO set builder both read annotations through it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def segmentation_rle(segmentation: Any, height: int, width: int, name: str) -> dict[str, Any]:
    """Compressed RLE of one COCO segmentation of a `height` x `width` image, validated first;
    `name` says which annotation in error messages."""
    if isinstance(segmentation, list):
        polygons = segmentation
        if not polygons:
            raise ValueError(f"{name}: segmentation is an empty polygon list")
        for polygon in polygons:
            if (
                not isinstance(polygon, (list, tuple))
                or len(polygon) < 6
                or len(polygon) % 2
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in polygon)
            ):
                raise ValueError(
                    f"{name}: each polygon must be a flat list of at least 3 (x, y) points "
                    f"(6+ finite numbers, even count), got {str(polygon)[:80]}"
                )
        rle = mask_utils.merge(mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width))
    elif isinstance(segmentation, Mapping) and "counts" in segmentation and "size" in segmentation:
        size = [int(v) for v in segmentation["size"]]
        if size != [height, width]:
            raise ValueError(
                f"{name}: RLE size {size} does not match the image's [height, width] = [{height}, {width}]"
            )
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if any(not isinstance(c, (int, np.integer)) or c < 0 for c in counts) or sum(counts) != height * width:
                raise ValueError(
                    f"{name}: uncompressed RLE counts must be non-negative integers summing to "
                    f"height * width = {height * width}"
                )
            rle = mask_utils.frPyObjects({"size": size, "counts": [int(c) for c in counts]}, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        else:
            raise ValueError(f"{name}: RLE counts must be a list (uncompressed) or a string (compressed)")
    else:
        raise ValueError(
            f"{name}: segmentation must be a polygon list or an RLE dict with 'counts' and 'size', "
            f"got {type(segmentation).__name__}"
        )
    return dict(rle)


def segmentation_mask(segmentation: Any, height: int, width: int, name: str) -> np.ndarray:
    """Boolean (height, width) mask of one COCO segmentation (see `segmentation_rle`)."""
    rle = segmentation_rle(segmentation, height, width, name)
    try:
        mask = mask_utils.decode(rle)
    except ValueError as error:
        raise ValueError(f"{name}: could not decode its RLE ({error})") from None
    decoded: np.ndarray = mask.astype(bool)
    return decoded
