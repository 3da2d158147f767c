"""Differentiable re-implementations of HF image processors, so gradients reach the mask.

HF processors turn PIL images into `pixel_values` outside autograd; these do the same steps on a
(3, H, W) float tensor in [0, 1] with torch ops:

- `ClipPixels` (LLaVA-1.5 and its CLIP-style processors): optional pad-to-square with the mean
  colour (`do_pad`, LLaVA's "pad"), resize (shortest edge or height/width, bicubic with
  antialiasing), centre crop, normalise.
- `QwenPixels` (Qwen2-VL / Qwen2.5-VL): smart resize to multiples of patch x merge within the
  pixel budget, normalise, then the patch layout (merge blocks, temporal copies) of
  `pixel_values`.

They match the processors' output up to the processors' uint8 rounding (tests compare them).
Any-resolution tiling (LLaVA-NeXT / OneVision) is not covered: `pixels_for` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ClipPixels:
    """CLIP-style preprocessing: [pad to square] -> resize -> centre crop -> normalise."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    shortest_edge: int | None
    size_hw: tuple[int, int] | None
    crop_hw: tuple[int, int] | None
    pad: bool

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """(1, 3, h, w) normalised pixel values of a (3, H, W) image in [0, 1]."""
        x = rgb[None]
        if self.pad:
            x = _pad_to_square(x, self.mean)
        x = _resize(x, self._resized_size(x.shape[-2], x.shape[-1]))
        if self.crop_hw is not None:
            x = _centre_crop(x, self.crop_hw)
        return _normalise(x, self.mean, self.std)

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        if self.size_hw is not None:
            return self.size_hw
        assert self.shortest_edge is not None
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(self.shortest_edge * long / short)
        return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)


@dataclass(frozen=True)
class QwenPixels:
    """Qwen2-VL preprocessing: smart resize -> normalise -> flat patches."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    min_pixels: int
    max_pixels: int

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """(grid_h * grid_w, 3 * temporal * patch^2) pixel values of a (3, H, W) image in [0, 1]."""
        height, width = self.resized_size(rgb.shape[-2], rgb.shape[-1])
        x = _normalise(_resize(rgb[None], (height, width)), self.mean, self.std)
        p, m = self.patch_size, self.merge_size
        gh, gw = height // p, width // p
        x = x.reshape(1, 3, gh // m, m, p, gw // m, m, p).permute(0, 2, 5, 3, 6, 1, 4, 7)
        x = x.unsqueeze(6).expand(-1, -1, -1, -1, -1, -1, self.temporal_patch_size, -1, -1)
        return x.reshape(gh * gw, 3 * self.temporal_patch_size * p * p)

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w): the processor's smart resize (multiples of patch x merge, pixel budget kept)."""
        factor = self.patch_size * self.merge_size
        h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
        if h_bar * w_bar > self.max_pixels:
            beta = math.sqrt(height * width / self.max_pixels)
            h_bar = max(factor, math.floor(height / beta / factor) * factor)
            w_bar = max(factor, math.floor(width / beta / factor) * factor)
        elif h_bar * w_bar < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (height * width))
            h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
        return h_bar, w_bar


Pixels = ClipPixels | QwenPixels


def pixels_for(processor: Any) -> Pixels:
    """The differentiable preprocessing matching `processor` (an HF processor or image processor);
    a ValueError for families it does not cover."""
    image_processor = getattr(processor, "image_processor", processor)
    name = type(image_processor).__name__
    rescale = float(getattr(image_processor, "rescale_factor", 1 / 255))
    if not getattr(image_processor, "do_rescale", True) or not math.isclose(rescale, 1 / 255, rel_tol=1e-6):
        raise ValueError(f"{name}: iGOS needs an image processor that rescales by 1/255; this one does not")
    mean = _triple(getattr(image_processor, "image_mean", None), name, "image_mean")
    std = _triple(getattr(image_processor, "image_std", None), name, "image_std")
    if getattr(image_processor, "image_grid_pinpoints", None):
        raise ValueError(
            f"{name}: any-resolution tiling (LLaVA-NeXT / OneVision) has no differentiable path yet; "
            "use a LLaVA-1.5 or Qwen2-VL model for iGOS"
        )
    if hasattr(image_processor, "merge_size") and hasattr(image_processor, "temporal_patch_size"):
        size = dict(getattr(image_processor, "size", None) or {})
        return QwenPixels(
            mean=mean, std=std, patch_size=int(image_processor.patch_size), merge_size=int(image_processor.merge_size),
            temporal_patch_size=int(image_processor.temporal_patch_size),
            min_pixels=int(size.get("shortest_edge") or image_processor.min_pixels),
            max_pixels=int(size.get("longest_edge") or image_processor.max_pixels),
        )
    if hasattr(image_processor, "crop_size") or hasattr(image_processor, "size"):
        size = dict(getattr(image_processor, "size", None) or {})
        crop = dict(getattr(image_processor, "crop_size", None) or {}) if getattr(image_processor, "do_center_crop", False) else {}
        if not getattr(image_processor, "do_resize", True) or not (size.get("shortest_edge") or size.get("height")):
            raise ValueError(f"{name}: iGOS needs an image processor that resizes (size shortest_edge or height/width)")
        return ClipPixels(
            mean=mean, std=std, shortest_edge=size.get("shortest_edge"),
            size_hw=(int(size["height"]), int(size["width"])) if size.get("height") else None,
            crop_hw=(int(crop["height"]), int(crop["width"])) if crop else None,
            pad=bool(getattr(image_processor, "do_pad", False)),
        )
    raise ValueError(f"{name}: no differentiable preprocessing for this image processor; iGOS supports LLaVA-1.5 and Qwen2-VL")


def _triple(values: Any, name: str, field: str) -> tuple[float, float, float]:
    if values is None or len(values) != 3:
        raise ValueError(f"{name}: {field} must hold three channel values, got {values!r}")
    return float(values[0]), float(values[1]), float(values[2])


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased (as the processors), clamped to [0, 1] as their uint8 images are."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)


def _pad_to_square(x: torch.Tensor, mean: tuple[float, float, float]) -> torch.Tensor:
    height, width = x.shape[-2:]
    if height == width:
        return x
    side = max(height, width)
    left, top = (side - width) // 2, (side - height) // 2
    fill = torch.tensor([int(v * 255) / 255 for v in mean], dtype=x.dtype, device=x.device)
    canvas = fill[None, :, None, None].expand(x.shape[0], 3, side, side).clone()
    canvas[:, :, top : top + height, left : left + width] = x
    return canvas


def _centre_crop(x: torch.Tensor, crop_hw: tuple[int, int]) -> torch.Tensor:
    height, width = x.shape[-2:]
    crop_h, crop_w = crop_hw
    if crop_h > height or crop_w > width:
        pad = [(crop_w - width) // 2 if crop_w > width else 0, (crop_w - width + 1) // 2 if crop_w > width else 0,
               (crop_h - height) // 2 if crop_h > height else 0, (crop_h - height + 1) // 2 if crop_h > height else 0]
        x = F.pad(x, pad)
        height, width = x.shape[-2:]
    top, left = int((height - crop_h) / 2.0), int((width - crop_w) / 2.0)
    return x[..., top : top + crop_h, left : left + crop_w]


def _normalise(x: torch.Tensor, mean: tuple[float, float, float], std: tuple[float, float, float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - m) / s
