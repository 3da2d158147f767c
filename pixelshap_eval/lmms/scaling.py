"""What the model sees of a very large image: the document's image downscaled once, before any
masking, so that its longest side is at most `max_image_side`, with its players mapped onto it.

Masking a 12000 x 9000 image for every coalition costs minutes per document, and the model's
processor shrinks it to a few hundred pixels anyway. Scaling once, with every player's mask and
box (and the target's) put on the smaller image, keeps masks and image the same size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pixelshap_eval.images import to_rgb
from pixelshap_eval.players import Region


def model_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) of the image the model is asked about; unchanged when it already fits
    (`max_side` 0 keeps every image as it is)."""
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def scale_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` resized to `size` (antialiased), or itself when it has that size already."""
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def model_view(image: Image.Image, max_side: int) -> Image.Image:
    """The image as the model is asked about it: RGB, downscaled once to at most `max_side` a side."""
    rgb = to_rgb(image)
    return scale_image(rgb, model_size(rgb.width, rgb.height, max_side))


def scale_region(region: Region, size: tuple[int, int]) -> Region:
    """`region` on an image of `size`: its mask resized (nearest), its box scaled."""
    height, width = region.mask.shape
    if (width, height) == size:
        return region
    mask = np.asarray(Image.fromarray(region.mask).resize(size, Image.Resampling.NEAREST), dtype=bool)
    sx, sy = size[0] / width, size[1] / height
    x, y, w, h = region.box
    return Region(label=region.label, mask=mask, box=(x * sx, y * sy, w * sx, h * sy), id=region.id, score=region.score)
