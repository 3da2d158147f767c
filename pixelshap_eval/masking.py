"""Masking: one coalition of players -> the image the model is asked about.

`coalition[i]` True keeps player i visible; False hides it, and the hidden pixels are filled.
Strategies say which pixels a hidden player takes with it:

- ``precise``: its mask pixels, optionally dilated by `dilation` pixels (a square
  neighbourhood, so the mask grows by `dilation` in every direction including diagonals);
- ``bbox``: its box grown by `box_margin` pixels, clipped to the image;
- ``bboa``: PixelSHAP's "Bounding Box with Overlap Avoidance": its box grown by `box_margin`,
  except the pixels of the precise masks of the players that stay visible.

Fills say what goes there: ``black``, ``gray`` (128, 128, 128), ``pad`` (CLIP's normalisation
mean as LLaVA writes it, (122, 116, 104): the colour LLaVA pads to a square with, and 0 in the
model's normalised pixels, so a hidden patch looks as the Patchwise reference removes it),
``mean`` (the image's mean colour) or ``blur`` (the same pixels of a Gaussian blur of the image,
`blur_radius`).

A `Masker` holds these settings; `mask_image` and `hidden_pixels` build one for a single call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageStat
from scipy import ndimage

from pixelshap_eval.images import to_rgb
from pixelshap_eval.players import Region, box_pixel_bounds

STRATEGIES = ("precise", "bbox", "bboa")
FILLS = ("black", "gray", "pad", "mean", "blur")

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # the image_mean of CLIP's (and LLaVA-1.5's) processor
PAD_COLOR = (122, 116, 104)  # LLaVA's expand2square colour: tuple(int(255 * m) for m in CLIP_MEAN)
_CONSTANT_FILLS: dict[str, tuple[int, int, int]] = {"black": (0, 0, 0), "gray": (128, 128, 128), "pad": PAD_COLOR}


@dataclass(frozen=True)
class Masker:
    """How hidden players are hidden: the pixels each takes with it (`strategy`, grown by
    `dilation` for ``precise`` or `box_margin` for ``bbox``/``bboa``) and what fills them
    (`fill`, blurred with `blur_radius` for ``blur``). One value, checked when built, that the
    task settings and `explain()` both hand to the same code."""

    strategy: str = "bboa"
    fill: str = "black"
    dilation: int = 0
    box_margin: int = 2
    blur_radius: float = 10.0

    def __post_init__(self) -> None:
        if self.fill not in FILLS:
            raise ValueError(f"unknown fill {self.fill!r}; choose one of {list(FILLS)}")
        if self.fill == "blur" and not self.blur_radius > 0:
            raise ValueError(f"blur_radius must be positive for fill='blur', got {self.blur_radius!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown masking strategy {self.strategy!r}; choose one of {list(STRATEGIES)}")
        for name, value in (("dilation", self.dilation), ("box_margin", self.box_margin)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer number of pixels, got {value!r}")

    def hidden_pixels(
        self, image_size: tuple[int, int], regions: Sequence[Region], coalition: Sequence[bool] | np.ndarray
    ) -> np.ndarray:
        """Boolean (H, W) array of the pixels that get filled for `coalition` on an image of
        `image_size` = (width, height). A region with an empty box (width or height 0) hides no box."""
        width, height = image_size
        _check_region_sizes(regions, (width, height))
        visible = _coalition_array(coalition, len(regions))
        hidden = np.zeros((height, width), dtype=bool)
        if visible.all():
            return hidden
        if self.strategy == "precise":
            for region in _select(regions, ~visible):
                _add_mask(hidden, region)
            if self.dilation:
                hidden = dilate(hidden, int(self.dilation))
            return hidden
        for region in _select(regions, ~visible):
            x0, y0, x1, y1 = box_pixel_bounds(region.box, (width, height), int(self.box_margin))
            hidden[y0:y1, x0:x1] = True
        if self.strategy == "bboa" and visible.any():
            for region in _select(regions, visible):
                window = region.pixel_bounds
                hidden[window] &= ~region.mask[window]
        return hidden

    def mask(self, image: Image.Image, regions: Sequence[Region], coalition: Sequence[bool] | np.ndarray) -> Image.Image:
        """A new RGB image in which the players that `coalition` hides are filled. The input
        image is never modified; with every player visible the result equals `to_rgb(image)`."""
        rgb = to_rgb(image)
        hidden = self.hidden_pixels(rgb.size, regions, coalition)
        if not hidden.any():
            return rgb
        result = rgb.copy()
        # PIL's masked paste runs in C: about 5x faster than a numpy masked copy on a 640x480 image
        result.paste(self.fill_source(rgb), mask=Image.fromarray(hidden))
        return result

    def fill_source(self, rgb: Image.Image) -> Image.Image | tuple[int, int, int]:
        """What the hidden pixels become: a blurred copy of the image, or one colour."""
        if self.fill == "blur":
            return rgb.filter(ImageFilter.GaussianBlur(self.blur_radius))
        if self.fill == "mean":
            red, green, blue = (int(v) for v in np.rint(ImageStat.Stat(rgb).mean))  # from the histogram: exact and fast
            return red, green, blue
        return _CONSTANT_FILLS[self.fill]


def hidden_pixels(
    image_size: tuple[int, int],
    regions: Sequence[Region],
    coalition: Sequence[bool] | np.ndarray,
    strategy: str = "bboa",
    dilation: int = 0,
    box_margin: int = 2,
) -> np.ndarray:
    """`Masker(strategy, dilation=..., box_margin=...).hidden_pixels(...)` in one call."""
    return Masker(strategy=strategy, dilation=dilation, box_margin=box_margin).hidden_pixels(image_size, regions, coalition)


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
    """`Masker(strategy, fill, dilation, box_margin, blur_radius).mask(...)` in one call."""
    return Masker(strategy, fill, dilation, box_margin, blur_radius).mask(image, regions, coalition)


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


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by `radius` pixels in every direction (Chebyshev distance), via two 1-D
    running maxima."""
    size = 2 * radius + 1
    grown = ndimage.maximum_filter1d(mask.view(np.uint8), size, axis=0, mode="constant", cval=0)
    grown = ndimage.maximum_filter1d(grown, size, axis=1, mode="constant", cval=0)
    result: np.ndarray = grown.astype(bool)
    return result
