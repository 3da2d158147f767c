"""Players: the image regions whose presence or absence the model is asked about.

A `Region` is one player. Builders turn annotations (COCO polygons/RLE, user boxes or masks,
SAM automatic masks) or a regular grid into a list of regions over the *original* image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixelshap_eval.coco_masks import segmentation_mask
from pixelshap_eval.grid import GridFrame
from pixelshap_eval.images import to_rgb

Box = tuple[float, float, float, float]  # x, y, width, height in pixels of the original image


@dataclass(frozen=True, eq=False)
class Region:
    """One player: a labelled boolean pixel mask of the original image and its box."""

    label: str
    mask: np.ndarray  # bool, shape (H, W)
    box: Box
    id: int | str | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask)
        if mask.ndim != 2:
            raise ValueError(f"Region {self.label!r}: mask must be 2-D (H, W), got shape {mask.shape}")
        object.__setattr__(self, "mask", mask.astype(bool, copy=False))
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))

    @property
    def area(self) -> int:
        """Number of pixels in the mask."""
        return int(self.mask.sum())

    @cached_property
    def pixel_bounds(self) -> tuple[slice, slice]:
        """(rows, cols) slices of the tightest window holding the mask's pixels (empty when the
        mask is), so that work on a small region touches only its window of a large image."""
        rows, cols = np.flatnonzero(self.mask.any(axis=1)), np.flatnonzero(self.mask.any(axis=0))
        if len(rows) == 0:
            return slice(0, 0), slice(0, 0)
        return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image the mask lives on."""
        h, w = self.mask.shape
        return w, h


def box_of_mask(mask: np.ndarray) -> Box:
    """Tight pixel box (x, y, w, h) of a boolean mask; (0, 0, 0, 0) when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def box_pixel_bounds(box: Box, image_size: tuple[int, int], margin: int = 0) -> tuple[int, int, int, int]:
    """Half-open pixel bounds (x0, y0, x1, y1) of every pixel a box touches, grown by `margin`
    pixels on each side and clipped to an image of `image_size` = (width, height).

    Box edges lie on pixel edges (COCO convention: pixel x spans [x, x + 1)), so fractional
    edges round outward. A box with no width or height covers nothing: (0, 0, 0, 0).
    """
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return (0, 0, 0, 0)
    width, height = image_size
    eps = 1e-6  # float noise on an integer edge must not add a row or column
    x0 = min(max(math.floor(x + eps) - margin, 0), width)
    y0 = min(max(math.floor(y + eps) - margin, 0), height)
    x1 = min(max(math.ceil(x + w - eps) + margin, 0), width)
    y1 = min(max(math.ceil(y + h - eps) + margin, 0), height)
    return (x0, y0, max(x1, x0), max(y1, y0))


def grid_regions(
    image_size: tuple[int, int],
    rows: int = 12,
    cols: int = 12,
    pad_to_square: bool = False,
    drop_empty: bool = False,
) -> list[Region]:
    """A rows x cols grid of cells over an image of `image_size` = (width, height).

    With `pad_to_square`, the grid is laid on the image padded to a square (LLaVA "pad"), so
    cell k matches cell k of a 336x336 12x12 grid; cells are then mapped back to the exact
    original pixels they cover (cells lying wholly in the padding have empty masks, and are
    kept unless `drop_empty`, so that cell indices stay aligned). Cell ids are 0-based,
    row-major (id = row * cols + col); labels read "r{row}c{col}".
    """
    width, height = image_size
    index = GridFrame(width, height, rows, cols, pad_to_square).cell_index_map()
    regions = []
    for cell in range(rows * cols):
        mask = index == cell
        if drop_empty and not mask.any():
            continue
        row, col = divmod(cell, cols)
        regions.append(Region(label=f"r{row}c{col}", mask=mask, box=box_of_mask(mask), id=cell))
    return regions


def regions_from_boxes(
    boxes: Sequence[Box], image_size: tuple[int, int], labels: Sequence[str] | None = None
) -> list[Region]:
    """One region per (x, y, w, h) box: the mask is the filled box clipped to the image of
    `image_size` = (width, height), and the stored box is that clipped box.
    Labels default to "box_<k>"; ids are the box indices."""
    width, height = image_size
    labels = _labels_or_default(labels, len(boxes), "box")
    regions = []
    for k, (box, label) in enumerate(zip(boxes, labels)):
        box = _checked_box(box, f"box {k}")
        x0, y0, x1, y1 = box_pixel_bounds(box, (width, height))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(
                f"box {k} {box} covers no pixel of the {width}x{height} image; "
                "boxes are (x, y, width, height) in pixels with positive width and height"
            )
        mask = np.zeros((height, width), dtype=bool)
        mask[y0:y1, x0:x1] = True
        clipped = (max(box[0], 0.0), max(box[1], 0.0))
        clipped_box = (*clipped, min(box[0] + box[2], width) - clipped[0], min(box[1] + box[3], height) - clipped[1])
        regions.append(Region(label=label, mask=mask, box=clipped_box, id=k))
    return regions


def regions_from_masks(
    masks: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[str] | None = None,
    boxes: Sequence[Box] | None = None,
) -> list[Region]:
    """One region per boolean (H, W) mask (a list, or an (n, H, W) array), all of one size.
    Boxes are the tight boxes of the masks unless given. Labels default to "region_<k>";
    ids are the mask indices."""
    masks = [np.asarray(mask) for mask in masks]
    labels = _labels_or_default(labels, len(masks), "region")
    if boxes is not None and len(boxes) != len(masks):
        raise ValueError(f"got {len(boxes)} boxes for {len(masks)} masks; give one box per mask or none")
    regions = []
    for k, (mask, label) in enumerate(zip(masks, labels)):
        if mask.ndim != 2 or mask.shape != masks[0].shape:
            raise ValueError(
                f"mask {k} has shape {mask.shape}; every mask must be 2-D (H, W) and of one size "
                f"(mask 0 is {masks[0].shape})"
            )
        mask = mask.astype(bool)
        if not mask.any():
            raise ValueError(f"mask {k} ({label!r}) is empty; a player must cover at least one pixel")
        box = box_of_mask(mask) if boxes is None else _checked_box(boxes[k], f"box {k}")
        regions.append(Region(label=label, mask=mask, box=box, id=k))
    return regions


def regions_from_coco(
    annotations: Iterable[Mapping[str, Any]],
    height: int,
    width: int,
    categories: Mapping[int, str] | Sequence[Mapping[str, Any]] | None = None,
) -> list[Region]:
    """One region per COCO instance annotation of an image of `height` x `width` pixels.

    Segmentations may be polygons, uncompressed RLE (crowd annotations) or compressed RLE.
    label = category name from `categories` (an id -> name mapping or COCO's `categories`
    list), else str(category_id); id = annotation id; score = the annotation's "score"
    (detection results), if any. box = the annotation's bbox, grown where needed to hold the
    whole mask (COCO's released crowd boxes stop one pixel short of their RLE mask's last
    column and row), or the mask's tight box when the annotation has no bbox.
    """
    names = _category_names(categories)
    regions = []
    for index, annotation in enumerate(annotations):
        name = f"annotation id={annotation['id']}" if "id" in annotation else f"annotation #{index} (no id)"
        if "category_id" not in annotation:
            raise ValueError(f"{name} has no 'category_id'; COCO instance annotations need one")
        mask = segmentation_mask(annotation.get("segmentation"), height, width, name)
        box = box_of_mask(mask)
        if "bbox" in annotation:
            box = _box_hull(_checked_box(annotation["bbox"], f"{name} bbox"), box)
        category_id = annotation["category_id"]
        label = names.get(category_id) or names.get(str(category_id)) or str(category_id)
        score = annotation.get("score")
        regions.append(
            Region(
                label=label,
                mask=mask,
                box=box,
                id=annotation.get("id"),
                score=None if score is None else float(score),
            )
        )
    return regions


SAM_CHECKPOINT_URLS = {
    "vit_h": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
    "vit_l": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
    "vit_b": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
}


def regions_from_sam(
    image: Image.Image | np.ndarray,
    checkpoint: str | os.PathLike[str] | None = None,
    model_type: str = "vit_b",
    device: str = "cpu",
    points_per_side: int = 32,
    min_area_fraction: float = 0.01,
    max_regions: int | None = 16,
    duplicate_iou: float = 0.9,
    mask_generator: Any | None = None,
) -> list[Region]:
    """Players from Segment Anything's automatic masks.

    Builds `SamAutomaticMaskGenerator` on the `model_type` weights at `checkpoint` (never
    downloaded here), or uses `mask_generator`: any object whose `.generate(HxWx3 uint8 array)`
    returns records in SAM's format ("segmentation" as a bool mask or RLE, "predicted_iou").
    Masks smaller than `min_area_fraction` of the image are dropped; the rest are sorted by
    area (largest first); a mask whose IoU with a larger kept one is at least `duplicate_iou`
    is a duplicate and dropped; at most `max_regions` (None: all) are kept.
    Labels read "segment_<k>" in that order, ids are k, scores are SAM's predicted IoU.
    The list is empty when no mask survives.
    """
    if not 0.0 <= min_area_fraction < 1.0:
        raise ValueError(f"min_area_fraction must be in [0, 1), got {min_area_fraction}")
    if not 0.0 < duplicate_iou <= 1.0:
        raise ValueError(f"duplicate_iou must be in (0, 1], got {duplicate_iou}")
    if max_regions is not None and max_regions < 1:
        raise ValueError(f"max_regions must be at least 1 (or None for no cap), got {max_regions}")
    pixels = _rgb_array(image)
    if mask_generator is None:
        mask_generator = _sam_mask_generator(checkpoint, model_type, device, points_per_side)
    elif checkpoint is not None:
        raise ValueError("give either a SAM checkpoint or a prebuilt mask_generator, not both")
    height, width = pixels.shape[:2]
    records = mask_generator.generate(pixels)
    candidates = []
    for k, record in enumerate(records):
        mask = _sam_record_mask(record.get("segmentation"), height, width, f"SAM record {k}")
        area = int(mask.sum())
        if area > 0 and area >= min_area_fraction * height * width:
            candidates.append((area, mask, float(record.get("predicted_iou", float("nan")))))
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    kept: list[tuple[np.ndarray, float]] = []
    for area, mask, score in candidates:
        if max_regions is not None and len(kept) == max_regions:
            break
        if all(_iou(mask, area, other) < duplicate_iou for other, _ in kept):
            kept.append((mask, score))
    return [
        Region(label=f"segment_{k}", mask=mask, box=box_of_mask(mask), id=k, score=score)
        for k, (mask, score) in enumerate(kept)
    ]


def _labels_or_default(labels: Sequence[str] | None, count: int, prefix: str) -> list[str]:
    if labels is None:
        return [f"{prefix}_{k}" for k in range(count)]
    if len(labels) != count:
        raise ValueError(f"got {len(labels)} labels for {count} players; give one label per player or none")
    return [str(label) for label in labels]


def _checked_box(box: Any, name: str) -> Box:
    try:
        values = tuple(float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 4 numbers (x, y, width, height), got {box!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or values[2] < 0 or values[3] < 0:
        raise ValueError(f"{name} must be 4 finite numbers (x, y, width, height) with width, height >= 0, got {box!r}")
    return values


def _box_hull(box: Box, other: Box) -> Box:
    """Smallest box holding both boxes; a box with no width or height adds nothing."""
    boxes = [b for b in (box, other) if b[2] > 0 and b[3] > 0] or [box]
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def _category_names(categories: Mapping[int, str] | Sequence[Mapping[str, Any]] | None) -> dict[Any, str]:
    if categories is None:
        return {}
    if isinstance(categories, Mapping):
        return {key: str(value) for key, value in categories.items()}
    try:
        return {category["id"]: str(category["name"]) for category in categories}
    except (KeyError, TypeError):
        raise ValueError(
            "categories must be an id -> name mapping or COCO's list of {'id': ..., 'name': ...} dicts"
        ) from None


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """HxWx3 uint8 pixels of a PIL image (any mode) or of an RGB uint8 array."""
    if isinstance(image, Image.Image):
        return np.asarray(to_rgb(image))
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"image array must be H x W x 3 uint8 (RGB), got shape {pixels.shape} dtype {pixels.dtype}")
    return pixels


def _sam_mask_generator(checkpoint: str | os.PathLike[str] | None, model_type: str, device: str, points_per_side: int) -> Any:
    """SAM's automatic mask generator on local weights; clear errors for what is missing."""
    if model_type not in SAM_CHECKPOINT_URLS:
        raise ValueError(f"unknown SAM model_type {model_type!r}; choose one of {sorted(SAM_CHECKPOINT_URLS)}")
    how_to = (
        f"download the SAM {model_type} weights from {SAM_CHECKPOINT_URLS[model_type]} and pass "
        "their local path as checkpoint=..."
    )
    if checkpoint is None:
        raise FileNotFoundError(f"no SAM checkpoint given: {how_to}")
    path = Path(checkpoint)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise FileNotFoundError(f"SAM checkpoint {str(path)!r} is missing or unreadable: {how_to}")
    import torch
    from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a file that is not a checkpoint
        raise ValueError(f"SAM checkpoint {str(path)!r} could not be loaded ({error}); {how_to}") from None
    model = sam_model_registry[model_type]()
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ValueError(
            f"SAM checkpoint {str(path)!r} does not fit model_type={model_type!r} ({str(error)[:200]}); "
            f"pass the model_type the weights were trained as ({sorted(SAM_CHECKPOINT_URLS)})"
        ) from None
    model.to(device).eval()
    return SamAutomaticMaskGenerator(model, points_per_side=points_per_side)


def _sam_record_mask(segmentation: Any, height: int, width: int, name: str) -> np.ndarray:
    if isinstance(segmentation, Mapping):
        return segmentation_mask(segmentation, height, width, name)
    mask = np.asarray(segmentation)
    if mask.shape != (height, width):
        raise ValueError(f"{name}: mask shape {mask.shape} does not match the image's (H, W) = {(height, width)}")
    return mask.astype(bool)


def _iou(mask: np.ndarray, area: int, other: np.ndarray) -> float:
    intersection = int(np.count_nonzero(mask & other))
    return intersection / (area + int(np.count_nonzero(other)) - intersection)
