"""ROAD curves at pixel level (pixelshap_eval.metrics.road)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.metrics import (
    HIGHER_IS_BETTER,
    pixel_order,
    ranking_pixel_map,
    removed_pixels,
    road_auc,
    road_fractions,
)
from pixelshap_eval.metrics.road import LERF, MORF

maps = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**31), st.integers(1, 5)).map(
    lambda t: np.random.default_rng(t[2]).integers(0, t[3], size=(t[0], t[1])).astype(float)
)


@settings(max_examples=80, deadline=None)
@given(maps, st.integers(0, 1000))
def test_pixel_order_is_a_seeded_permutation_most_relevant_first(attribution: np.ndarray, seed: int) -> None:
    order = pixel_order(attribution, seed)
    assert np.array_equal(np.sort(order), np.arange(attribution.size))
    assert np.all(np.diff(attribution.ravel()[order]) <= 0)
    assert np.array_equal(order, pixel_order(attribution, seed))


def test_ties_are_broken_at_random_by_the_seed() -> None:
    flat = np.zeros((10, 10))
    assert not np.array_equal(pixel_order(flat, 0), pixel_order(flat, 1))


@settings(max_examples=80, deadline=None)
@given(maps, st.integers(0, 1000), st.integers(2, 12))
def test_morf_and_lerf_remove_complementary_ends(attribution: np.ndarray, seed: int, points: int) -> None:
    order = pixel_order(attribution, seed)
    shape = attribution.shape
    previous = np.zeros(shape, dtype=bool)
    for fraction in road_fractions(points):
        morf = removed_pixels(order, shape, fraction, MORF)
        lerf = removed_pixels(order, shape, fraction, LERF)
        assert morf.sum() == lerf.sum() == round(fraction * attribution.size)
        assert np.all(morf >= previous)  # a curve only ever removes more
        previous = morf
        if morf.any() and not morf.all():  # the removed are the most (MoRF) or least (LeRF) relevant
            assert attribution[morf].min() >= attribution[~morf].max()
            assert attribution[lerf].max() <= attribution[~lerf].min()
    assert previous.all()


def test_ranking_pixel_map_follows_the_best_ranked_covering_player() -> None:
    masks = [np.zeros((2, 3), dtype=bool) for _ in range(3)]
    masks[0][0, :2] = True
    masks[1][0, 1:] = True
    masks[2][1, 0] = True
    importance = ranking_pixel_map([1, 2, 0], masks)  # player 1 first, then 2, then 0
    np.testing.assert_array_equal(importance, [[1, 3, 3], [2, 0, 0]])
    with pytest.raises(ValueError, match="permutation"):
        ranking_pixel_map([0, 0, 1], masks)
    with pytest.raises(ValueError, match="one per player"):
        ranking_pixel_map([0, 1], masks)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 60), st.integers(0, 2**31))
def test_an_additive_game_orders_morf_below_lerf(points: int, seed: int) -> None:
    """v = total worth of the pixels left: the true ranking's MoRF AUC <= LeRF AUC, both in [0, 1]."""
    rng = np.random.default_rng(seed)
    worth = rng.random((6, 7))
    order = pixel_order(worth, seed)
    curves = {
        direction: [worth[~removed_pixels(order, worth.shape, f, direction)].sum() for f in road_fractions(points)]
        for direction in (MORF, LERF)
    }
    morf, lerf = road_auc(curves[MORF]), road_auc(curves[LERF])
    assert 0.0 <= morf <= lerf <= 1.0


def test_road_auc_normalises_by_the_end_points() -> None:
    assert road_auc([1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert road_auc([3.0, 3.0, 1.0]) == pytest.approx(0.75)
    assert np.isnan(road_auc([2.0, 1.0, 2.0]))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 points"):
        road_fractions(1)
    with pytest.raises(ValueError, match="direction"):
        removed_pixels(np.arange(4), (2, 2), 0.5, "sideways")
    with pytest.raises(ValueError, match="4 pixels"):
        removed_pixels(np.arange(3), (2, 2), 0.5, MORF)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        pixel_order(np.zeros(5), 0)


def test_directions() -> None:
    assert HIGHER_IS_BETTER["road_morf_auc"] is False and HIGHER_IS_BETTER["road_lerf_auc"] is True
