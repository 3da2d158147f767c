"""Players: the image regions whose presence or absence the model is asked about.

A `Region` is one player. Builders turn annotations (COCO polygons/RLE, user boxes or masks,
SAM automatic masks) or a regular grid into a list of regions over the *original* image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


@dataclass(frozen=True)
class PaddedSquare:
    """Geometry of LLaVA's "pad" preprocessing: the image centred on a square of side
    max(W, H) (padding filled with the mean colour), then resized to `resolution`."""

    width: int
    height: int
    resolution: int = 336

    @property
    def side(self) -> int:
        return max(self.width, self.height)

    @property
    def offset(self) -> tuple[int, int]:
        """(x, y) of the original image's top-left corner inside the square."""
        return (self.side - self.width) // 2, (self.side - self.height) // 2

    def cell_index_map(self, rows: int, cols: int) -> np.ndarray:
        """(H, W) int array: the row-major cell index (0-based) of each original pixel,
        for a rows x cols grid laid on the padded square (pixel centres decide)."""
        ox, oy = self.offset
        xs = ((np.arange(self.width) + ox + 0.5) * cols / self.side).astype(int)
        ys = ((np.arange(self.height) + oy + 0.5) * rows / self.side).astype(int)
        return ys[:, None] * cols + xs[None, :]


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
    if rows < 1 or cols < 1:
        raise ValueError(f"grid needs at least one row and one column, got {rows}x{cols}")
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    if pad_to_square:
        index = PaddedSquare(width, height).cell_index_map(rows, cols)
    else:
        xs = (np.arange(width) * cols // width).astype(int)
        ys = (np.arange(height) * rows // height).astype(int)
        index = ys[:, None] * cols + xs[None, :]
    regions = []
    for cell in range(rows * cols):
        mask = index == cell
        if drop_empty and not mask.any():
            continue
        row, col = divmod(cell, cols)
        regions.append(Region(label=f"r{row}c{col}", mask=mask, box=box_of_mask(mask), id=cell))
    return regions
