"""The baseline image that a mask's deleted pixels are replaced by (iGOS+/iGOS++).

`blur` is the published one: a Gaussian whose kernel grows with the image width (k = 501, 301,
201 or 101 px) and whose sigma is k - 1, so in effect a near-box blur over about k pixels (far
stronger than a radius-10 blur). Computed with scipy's separable filter, mirror borders (OpenCV's
default BORDER_REFLECT_101) and radius (k - 1) / 2: the same filter as `cv2.GaussianBlur(img,
(k, k), k - 1)`, up to the final rounding to uint8.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from pixelshap_eval.images import to_rgb

BASELINES = ("blur", "black", "noise")


def blur_kernel_size(width: int) -> int:
    """The published kernel size for an image `width` pixels wide."""
    if width >= 2000:
        return 501
    if width >= 800:
        return 301
    if width >= 500:
        return 201
    return 101


def published_blur(image: Image.Image) -> Image.Image:
    """The Gaussian blur of `image` with the published kernel (by width) and sigma k - 1."""
    pixels = np.asarray(to_rgb(image), dtype=np.float64)
    kernel = blur_kernel_size(pixels.shape[1])
    radius, sigma = (kernel - 1) // 2, float(kernel - 1)
    for axis in (0, 1):
        pixels = gaussian_filter1d(pixels, sigma, axis=axis, mode="mirror", radius=radius)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def make_baseline(image: Image.Image, kind: str = "blur", seed: int = 0) -> Image.Image:
    """The baseline of `image`: `blur` (published), `black` (all zero) or `noise` (uniform uint8
    noise, as the reference's ablation, drawn from `seed`)."""
    rgb = to_rgb(image)
    if kind == "blur":
        return published_blur(rgb)
    if kind == "black":
        return Image.new("RGB", rgb.size, (0, 0, 0))
    if kind == "noise":
        noise = np.random.default_rng(seed).integers(0, 256, size=(rgb.height, rgb.width, 3), dtype=np.uint8)
        return Image.fromarray(noise)
    raise ValueError(f"unknown iGOS baseline {kind!r}: choose one of {BASELINES}")
