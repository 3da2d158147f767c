"""Grid geometry has one owner: grid players, grid maps put on the image and the human
patches' cells agree on every pixel, for odd sizes too."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.grid import GridFrame
from pixelshap_eval.players import grid_regions


def grid_map_to_image(grid: np.ndarray, image_size: tuple[int, int], pad_to_square: bool = True) -> np.ndarray:
    rows, cols = grid.shape
    return GridFrame(image_size[0], image_size[1], rows, cols, pad_to_square).to_image(grid)


def test_grid_map_to_image_uses_the_padded_square():
    grid = np.arange(4.0).reshape(2, 2)
    # a 4 x 2 (W x H) image sits in rows 1..2 of a 4 x 4 square: its top row is grid row 0
    on_image = grid_map_to_image(grid, (4, 2))
    assert on_image.tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    on_image = grid_map_to_image(grid, (4, 6))  # 4 wide in a 6-wide square: cols 1..4
    assert on_image[0].tolist() == [0, 0, 1, 1]
    assert on_image[:, 0].tolist() == [0, 0, 0, 2, 2, 2]
    assert grid_map_to_image(grid, (2, 4), pad_to_square=False)[:, 1].tolist() == [1, 1, 3, 3]


def test_ten_pixels_on_three_cells_split_by_pixel_centres():
    # centres 0.5..9.5 against cuts at 3.33 and 6.67: rows 0-2, 3-6, 7-9 (row 3 is in cell row 1)
    frame = GridFrame(10, 10, 3, 3)
    cells = frame.cell_index_map()
    assert (cells[:, 0] // 3).tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    regions = grid_regions((10, 10), 3, 3)
    assert regions[3].mask[3, 0] and not regions[0].mask[3, 0]


@settings(deadline=None, max_examples=60)
@given(
    width=st.integers(1, 41),
    height=st.integers(1, 41),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    pad=st.booleans(),
)
def test_grid_players_and_grid_maps_agree_on_every_pixel(width, height, rows, cols, pad):
    frame = GridFrame(width, height, rows, cols, pad)
    on_image = frame.to_image(np.arange(rows * cols).reshape(rows, cols))
    for region in grid_regions((width, height), rows, cols, pad_to_square=pad):
        assert (on_image[region.mask] == region.id).all()
    assert frame.frame_size == ((max(width, height),) * 2 if pad else (width, height))


def test_grid_frame_rejects_empty_grids_and_wrong_maps():
    with pytest.raises(ValueError, match="at least one row"):
        GridFrame(4, 4, 0, 2)
    with pytest.raises(ValueError, match="shape"):
        GridFrame(4, 4, 2, 2).to_image(np.zeros((3, 3)))
