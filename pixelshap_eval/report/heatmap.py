"""Attribution overlays: each player's region painted with its value over the image.

Colours are diverging and symmetric around zero (red: the region supports the answer; blue:
it works against it), scaled by the largest |value| of the image, so zero always looks neutral.
The target object's box is drawn in green, the top-ranked player's box dashed in yellow (only
when the values rank anyone first: all-equal values have no top player).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from pixelshap_eval.images import to_rgb  # noqa: E402
from pixelshap_eval.players import Box, Region  # noqa: E402

TARGET_COLOUR = (0, 200, 70)
TOP_COLOUR = (255, 215, 0)


def value_map(values: Sequence[float], regions: Sequence[Region], size: tuple[int, int]) -> np.ndarray:
    """(H, W) map holding each region's value on its pixels (overlaps add, uncovered = 0)."""
    width, height = size
    painted = np.zeros((height, width), dtype=float)
    for value, region in zip(values, regions):
        painted[region.mask] += float(value)
    return painted


def overlay(
    image: Image.Image,
    values: Sequence[float],
    regions: Sequence[Region],
    target_box: Box | None = None,
    alpha: float = 0.55,
    max_side: int | None = 512,
) -> Image.Image:
    """The image with the attribution painted on top (see the module docstring)."""
    if len(values) != len(regions):
        raise ValueError(f"got {len(values)} values for {len(regions)} regions: one value per region is needed")
    base = to_rgb(image)
    painted = value_map(values, regions, base.size)
    scale = float(np.abs(painted).max()) or 1.0
    colours = colormaps["RdBu_r"]((painted / scale + 1.0) / 2.0)[..., :3]
    covered = np.zeros(painted.shape, dtype=bool)
    for region in regions:
        covered |= region.mask
    weight = np.where(covered, alpha, 0.0)[..., None]
    mixed = (1 - weight) * np.asarray(base, dtype=float) / 255.0 + weight * colours
    result = Image.fromarray(np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(result)
    width = max(1, round(max(base.size) / 160))
    if len(values) and np.ptp(np.asarray(values, dtype=float)) > 0:
        top = regions[int(np.argmax(values))].box
        _dashed_box(draw, top, TOP_COLOUR, width)
    if target_box is not None:
        x, y, w, h = target_box
        draw.rectangle([x, y, x + w - 1, y + h - 1], outline=TARGET_COLOUR, width=width)
    if max_side and max(result.size) > max_side:
        result.thumbnail((max_side, max_side))
    return result


def save_overlay(path: str | Path, *args, **kwargs) -> Path:
    """`overlay(...)` written to `path` as PNG (parent folders created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    overlay(*args, **kwargs).save(target, format="PNG")
    return target


def _dashed_box(draw: ImageDraw.ImageDraw, box: Box, colour: tuple[int, int, int], width: int, dash: int = 6) -> None:
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return
    x1, y1 = x + w - 1, y + h - 1
    for start in np.arange(x, x1, 2 * dash):
        end = min(start + dash, x1)
        draw.line([(start, y), (end, y)], fill=colour, width=width)
        draw.line([(start, y1), (end, y1)], fill=colour, width=width)
    for start in np.arange(y, y1, 2 * dash):
        end = min(start + dash, y1)
        draw.line([(x, start), (x, end)], fill=colour, width=width)
        draw.line([(x1, start), (x1, end)], fill=colour, width=width)
