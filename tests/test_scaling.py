"""Very large images are downscaled once, before masking, with their players mapped onto them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pixelshap_eval.lmms.config import AttributionConfig
from pixelshap_eval.lmms.documents import doc_players
from pixelshap_eval.lmms.scaling import model_size, scale_image, scale_region
from pixelshap_eval.masking import Masker
from pixelshap_eval.players import regions_from_boxes


@given(width=st.integers(1, 20000), height=st.integers(1, 20000), max_side=st.integers(1, 4096))
def test_model_size_fits_the_longest_side_and_keeps_the_aspect(width, height, max_side):
    w, h = model_size(width, height, max_side)
    if max(width, height) <= max_side:
        assert (w, h) == (width, height)
    else:
        scale = max_side / max(width, height)
        assert max(w, h) == max_side and min(w, h) >= 1
        assert abs(w - width * scale) <= 1 and abs(h - height * scale) <= 1  # each side scaled alike


def test_zero_keeps_every_image():
    assert model_size(12000, 9000, 0) == (12000, 9000)
    with pytest.raises(ValueError, match="max_image_side must be >= 0"):
        AttributionConfig(max_image_side=-1)


def test_a_scaled_region_lands_on_the_same_part_of_the_scaled_image():
    (region,) = regions_from_boxes([(6000, 4500, 3000, 1500)], (12000, 9000))
    scaled = scale_region(region, (2048, 1536))
    assert scaled.mask.shape == (1536, 2048)
    assert np.allclose(scaled.box, (1024, 768, 512, 256))
    assert scaled.mask[768:1024, 1024:1536].all() and scaled.area == 512 * 256


def test_a_large_documents_players_and_image_are_on_the_size_the_model_sees():
    """Players built from a 12000 x 9000 document fit the downscaled image, so masking works on it."""
    regions = regions_from_boxes([(0, 0, 6000, 9000), (6000, 0, 6000, 4500)], (12000, 9000))
    doc = {"width": 12000, "height": 9000}
    settings = AttributionConfig(players="grid", grid_rows=2, grid_cols=2, grid_pad_to_square=False)
    players = doc_players(doc, settings)
    assert players.frame is not None and (players.frame.width, players.frame.height) == (2048, 1536)
    image = scale_image(Image.new("RGB", (12000, 9000), (200, 10, 10)), model_size(12000, 9000, settings.max_image_side))
    assert image.size == (2048, 1536)
    masked = np.asarray(Masker(strategy="precise").mask(image, players.regions, [False, True, True, True]))
    assert (masked[:768, :1024] == 0).all() and (masked[768:, 1024:] == (200, 10, 10)).all()
    assert [r.mask.shape for r in (scale_region(r, image.size) for r in regions)] == [(1536, 2048)] * 2
