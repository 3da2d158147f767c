"""Masking: one coalition of players -> the image the model is asked about.

`coalition[i]` True keeps player i visible; False hides it, and the hidden pixels are filled.
Strategies say which pixels a hidden player takes with it:

- ``precise``: its mask pixels, optionally dilated by `dilation` pixels (a square
  neighbourhood, so the mask grows by `dilation` in every direction including diagonals);
- ``bbox``: its box grown by `box_margin` pixels, clipped to the image;
- ``bboa``: PixelSHAP's "Bounding Box with Overlap Avoidance": its box grown by `box_margin`,
  except the pixels of the precise masks of the players that stay visible.

Fills say what goes there: ``black``, ``gray`` (128, 128, 128), ``mean`` (the image's mean
colour) or ``blur`` (the same pixels of a Gaussian blur of the image, `blur_radius`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter, ImageStat
from scipy import ndimage

from pixelshap_eval.images import to_rgb
from pixelshap_eval.players import Region, box_pixel_bounds

STRATEGIES = ("precise", "bbox", "bboa")
FILLS = ("black", "gray", "mean", "blur")

_CONSTANT_FILLS = {"black": (0, 0, 0), "gray": (128, 128, 128)}


def hidden_pixels(
    image_size: tuple[int, int],
    regions: Sequence[Region],
    coalition: Sequence[bool] | np.ndarray,
    strategy: str = "bboa",
    dilation: int = 0,
    box_margin: int = 2,
) -> np.ndarray:
    """Boolean (H, W) array of the pixels that get filled for `coalition` on an image of
    `image_size` = (width, height). `dilation` applies to ``precise`` only, `box_margin` to
    ``bbox`` and ``bboa`` only. A region with an empty box (width or height 0) hides no box."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown masking strategy {strategy!r}; choose one of {list(STRATEGIES)}")
    for name, value in (("dilation", dilation), ("box_margin", box_margin)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer number of pixels, got {value!r}")
    width, height = image_size
    _check_region_sizes(regions, (width, height))
    visible = _coalition_array(coalition, len(regions))
    hidden = np.zeros((height, width), dtype=bool)
    if visible.all():
        return hidden
    if strategy == "precise":
        for region in _select(regions, ~visible):
            _add_mask(hidden, region)
        if dilation:
            hidden = _dilate(hidden, int(dilation))
        return hidden
    for region in _select(regions, ~visible):
        x0, y0, x1, y1 = box_pixel_bounds(region.box, (width, height), int(box_margin))
        hidden[y0:y1, x0:x1] = True
    if strategy == "bboa" and visible.any():
        for region in _select(regions, visible):
            window = region.pixel_bounds
            hidden[window] &= ~region.mask[window]
    return hidden


def mask_image(
    image: Image.Image,
    regions: Sequence[Region],
    coalition: Sequence[bool] | np.ndarray,
    strategy: str = "bboa",
    fill: str = "black",
    dilation: int = 0,
    box_margin: int = 2,
    blur_radius: float = 10.0,
) -> Image.Image:
    """A new RGB image in which the players that `coalition` hides are filled (see the module
    docstring for strategies and fills). The input image is never modified; with every
    player visible the result equals `to_rgb(image)`."""
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; choose one of {list(FILLS)}")
    if fill == "blur" and not blur_radius > 0:
        raise ValueError(f"blur_radius must be positive for fill='blur', got {blur_radius!r}")
    rgb = to_rgb(image)
    hidden = hidden_pixels(rgb.size, regions, coalition, strategy, dilation, box_margin)
    if not hidden.any():
        return rgb
    result = rgb.copy()
    # PIL's masked paste runs in C: about 5x faster than a numpy masked copy on a 640x480 image
    result.paste(_fill_source(rgb, fill, blur_radius), mask=Image.fromarray(hidden))
    return result


def _fill_source(rgb: Image.Image, fill: str, blur_radius: float) -> Image.Image | tuple[int, int, int]:
    """What the hidden pixels become: a blurred copy of the image, or one colour."""
    if fill == "blur":
        return rgb.filter(ImageFilter.GaussianBlur(blur_radius))
    if fill == "mean":
        return tuple(int(v) for v in np.rint(ImageStat.Stat(rgb).mean))  # from the histogram: exact and fast
    return tuple(_CONSTANT_FILLS[fill])


def _coalition_array(coalition: Sequence[bool] | np.ndarray, n_players: int) -> np.ndarray:
    """The coalition as a 1-D bool array of length `n_players`; 0/1 numbers are accepted."""
    array = np.asarray(coalition)
    if array.ndim != 1 or len(array) != n_players:
        raise ValueError(
            f"coalition must be a 1-D sequence of {n_players} booleans (one per region, True = visible), "
            f"got shape {array.shape}"
        )
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"coalition entries must be booleans or 0/1 (True/1 = visible), got {array.tolist()}")
    return array.astype(bool)


def _check_region_sizes(regions: Sequence[Region], image_size: tuple[int, int]) -> None:
    for index, region in enumerate(regions):
        if region.size != tuple(image_size):
            raise ValueError(
                f"region {index} ({region.label!r}) has a {region.size[0]}x{region.size[1]} mask but the image is "
                f"{image_size[0]}x{image_size[1]} (width x height); build regions on the image you mask"
            )


def _add_mask(target: np.ndarray, region: Region) -> None:
    """target |= region.mask, touching only the region's window of the image."""
    window = region.pixel_bounds
    target[window] |= region.mask[window]


def _select(regions: Sequence[Region], chosen: np.ndarray) -> list[Region]:
    return [region for region, pick in zip(regions, chosen) if pick]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by `radius` pixels in every direction (Chebyshev distance), via two 1-D
    running maxima."""
    size = 2 * radius + 1
    grown = ndimage.maximum_filter1d(mask.view(np.uint8), size, axis=0, mode="constant", cval=0)
    grown = ndimage.maximum_filter1d(grown, size, axis=1, mode="constant", cval=0)
    return grown.astype(bool)
