"""Grid geometry, one owner: which cell of a rows x cols grid each pixel of an image is in.

The grid lies on the image itself, or (`pad_to_square`, LLaVA's "pad" preprocessing and the
human patches' frame) on the image centred on a square of side max(W, H). Either way a pixel
belongs to the cell holding its centre, so a square image gets the same cells both ways.
Grid players, human patches, attention maps and grid maps put back on the image all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridFrame:
    """A rows x cols grid over a `width` x `height` image; cells are 0-based, row-major."""

    width: int
    height: int
    rows: int
    cols: int
    pad_to_square: bool = False

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"grid needs at least one row and one column, got {self.rows}x{self.cols}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {(self.width, self.height)}")

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the frame the grid lies on: the padded square, or the image."""
        if self.pad_to_square:
            side = max(self.width, self.height)
            return side, side
        return self.width, self.height

    @property
    def offset(self) -> tuple[int, int]:
        """(x, y) of the image's top-left corner inside the frame."""
        frame_w, frame_h = self.frame_size
        return (frame_w - self.width) // 2, (frame_h - self.height) // 2

    @property
    def n_cells(self) -> int:
        return self.rows * self.cols

    def cell_index_map(self) -> np.ndarray:
        """(H, W) int array: the cell index of each image pixel (pixel centres decide)."""
        frame_w, frame_h = self.frame_size
        ox, oy = self.offset
        xs = ((np.arange(self.width) + ox + 0.5) * self.cols / frame_w).astype(int)
        ys = ((np.arange(self.height) + oy + 0.5) * self.rows / frame_h).astype(int)
        cells: np.ndarray = ys[:, None] * self.cols + xs[None, :]
        return cells

    def to_image(self, grid_map: np.ndarray) -> np.ndarray:
        """(H, W) map whose pixels take the value of the cell of `grid_map` (rows, cols) they lie in."""
        grid = np.asarray(grid_map)
        if grid.shape != (self.rows, self.cols):
            raise ValueError(f"grid_map must have shape {(self.rows, self.cols)}, got {grid.shape}")
        on_image: np.ndarray = grid.ravel()[self.cell_index_map()]
        return on_image
