"""The one image normaliser: every image (the reference answer's, each coalition's, the
heatmaps', SAM's) goes through `to_rgb`, so an RGBA or 16-bit input is seen the same way by all."""

from __future__ import annotations

import numpy as np
from PIL import Image

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy of a PIL image of any mode.

    Transparency (RGBA, RGBa, LA, La, PA, P or L with a transparent colour) is composited onto white,
    as transformers' `convert_to_rgb` does, so the unmasked image equals what HF image
    processors give the model. 16-bit greyscale (I;16*) is scaled to 8 bits (65535 -> 255);
    other modes (L, 1, P, CMYK, YCbCr, I, F, ...) use Pillow's conversion, which clips I and
    F values to 0..255.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image.Image, got {type(image).__name__}; wrap arrays with PIL.Image.fromarray")
    if image.mode == "RGB":
        return image.copy()
    if image.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.uint32)
        eight_bit = ((grey * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(eight_bit).convert("RGB")
    if {"A", "a"} & set(image.getbands()) or image.info.get("transparency") is not None:
        if image.mode == "La":  # Pillow converts premultiplied La only to LA
            image = image.convert("LA")
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
