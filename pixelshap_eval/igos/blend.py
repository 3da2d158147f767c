"""Coarse mask -> per-pixel weight -> blend of the image with its baseline.

The mask (1 = keep the image, 0 = replace by the baseline) lives on a coarse grid over the
original image and is upsampled bilinearly with aligned corners (as torch's
`UpsamplingBilinear2d`, which the reference uses). The blend is taken in the model's pixel
space before its preprocessing; since rescaling and normalisation are affine, this equals
blending the two normalised tensors, and the (linear) resize moves it only by interpolation
error. Blending the original image lets one mask serve every processor family, padded square
or patched.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pixelshap_eval.images import to_rgb


def image_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """(3, H, W) float32 tensor of `image` in [0, 1]."""
    pixels = np.asarray(to_rgb(image), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).to(device)


def upsample(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The (rows, cols) coarse `mask` upsampled bilinearly (aligned corners) to `size` = (H, W)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (rows, cols), got shape {tuple(mask.shape)}")
    return F.interpolate(mask[None, None], size=size, mode="bilinear", align_corners=True)[0, 0]


def blend(image: torch.Tensor, baseline: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """image * keep + baseline * (1 - keep), `keep` a (H, W) weight broadcast over channels."""
    if image.shape != baseline.shape or image.shape[-2:] != keep.shape:
        raise ValueError(
            f"image {tuple(image.shape)}, baseline {tuple(baseline.shape)} and keep weight {tuple(keep.shape)} must share (H, W)"
        )
    return image * keep + baseline * (1.0 - keep)
