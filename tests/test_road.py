"""Noisy linear imputation (pixelshap_eval.road) against an independent dense solve."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pixelshap_eval import road
from pixelshap_eval.road import DIAGONAL_WEIGHT, ORTHOGONAL_WEIGHT, impute


def dense_imputation(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The defining equations written out one pixel at a time and solved densely: each removed
    pixel minus the renormalised weighted mean of its existing neighbours is zero."""
    height, width = removed.shape
    unknowns = [(y, x) for y in range(height) for x in range(width) if removed[y, x]]
    number = {pixel: k for k, pixel in enumerate(unknowns)}
    matrix = np.zeros((len(unknowns), len(unknowns)))
    rhs = np.zeros((len(unknowns), 3))
    for k, (y, x) in enumerate(unknowns):
        neighbours = [
            (y + dy, x + dx, ORTHOGONAL_WEIGHT if dy == 0 or dx == 0 else DIAGONAL_WEIGHT)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0) and 0 <= y + dy < height and 0 <= x + dx < width
        ]
        total = sum(w for _, _, w in neighbours)
        matrix[k, k] = 1.0
        for ny, nx, w in neighbours:
            if removed[ny, nx]:
                matrix[k, number[(ny, nx)]] -= w / total
            else:
                rhs[k] += w / total * image[ny, nx]
    filled = image.copy()
    filled[removed] = np.linalg.solve(matrix, rhs)
    return filled


@st.composite
def image_and_mask(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    height, width = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    image = rng.random((height, width, 3))
    fraction = draw(st.floats(0.0, 0.97))
    blocky = draw(st.booleans())
    if blocky:  # contiguous holes, like ROAD steps of a patch ranking
        cells = rng.random((height // 3 + 1, width // 3 + 1)) < fraction
        removed = np.kron(cells, np.ones((3, 3), dtype=bool))[:height, :width].astype(bool)
    else:
        removed = rng.random((height, width)) < fraction
    if removed.all():
        removed[rng.integers(height), rng.integers(width)] = False
    return image, removed


@settings(max_examples=60, deadline=None)
@given(image_and_mask())
# a chain whose smoothed coarse matrix is singular (found by this test): the coarsest level's pseudo-inverse
@example((np.linspace(0.1, 0.9, 21).reshape(1, 7, 3), np.array([[False, True, True, False, True, True, True]])))
def test_matches_a_dense_solve_and_keeps_known_pixels(case: tuple[np.ndarray, np.ndarray]) -> None:
    image, removed = case
    expected = dense_imputation(image, removed)
    with patch.object(road, "_COARSEST", 4), patch.object(road, "DIRECT_BELOW", 0):  # small cases through multigrid
        multigrid = impute(image, removed, noise=0.0)
    for got in (multigrid, impute(image, removed, noise=0.0, direct=True)):
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert np.array_equal(got[~removed], image[~removed])


@settings(max_examples=30, deadline=None)
@given(image_and_mask(), st.floats(0.0, 1.0))
def test_constant_image_stays_constant(case: tuple[np.ndarray, np.ndarray], level: float) -> None:
    _, removed = case
    image = np.full(removed.shape + (3,), level)
    np.testing.assert_allclose(impute(image, removed, noise=0.0), image, atol=1e-9)


def test_large_blocky_mask_converges_like_the_direct_solve() -> None:
    rng = np.random.default_rng(1)
    size = 204
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.stack([np.sin(xx / 9) * 0.4 + 0.5, np.cos(yy / 7) * 0.4 + 0.5, (xx + yy) / (2 * size)], axis=-1)
    kept_cells = rng.random((12, 12)) < 0.05
    removed = ~np.kron(kept_cells, np.ones((17, 17), dtype=bool)).astype(bool)
    removed[0, 0] = False
    assert removed.sum() > road.DIRECT_BELOW
    np.testing.assert_allclose(impute(image, removed, noise=0.0), impute(image, removed, noise=0.0, direct=True), atol=1e-5)


def test_noise_is_seeded_and_only_on_removed_pixels() -> None:
    rng = np.random.default_rng(2)
    image = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    removed = rng.random((20, 30)) < 0.5
    a, b = impute(image, removed, noise=0.05, seed=3), impute(image, removed, noise=0.05, seed=3)
    assert a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, impute(image, removed, noise=0.05, seed=4))
    assert np.array_equal(a[~removed], image[~removed])
    quiet = impute(image, removed, noise=0.0).astype(float)
    spread = (a.astype(float) - quiet)[removed].std() / 255
    assert 0.03 < spread < 0.07


def test_everything_removed_gives_the_mean_colour() -> None:
    image = np.random.default_rng(5).random((6, 7, 3))
    filled = impute(image, np.ones((6, 7), dtype=bool), noise=0.0)
    np.testing.assert_allclose(filled, np.broadcast_to(image.reshape(-1, 3).mean(axis=0), image.shape))


def test_nothing_removed_returns_the_image() -> None:
    image = np.random.default_rng(6).random((4, 5, 3))
    assert np.array_equal(impute(image, np.zeros((4, 5), dtype=bool)), image)


@pytest.mark.parametrize(
    ("image", "removed", "message"),
    [
        (np.zeros((4, 4)), np.zeros((4, 4), dtype=bool), "RGB"),
        (np.zeros((4, 4, 3)), np.zeros((4, 5), dtype=bool), "bool mask"),
        (np.full((4, 4, 3), 2.0), np.zeros((4, 4), dtype=bool), r"\[0, 1\]"),
        (np.zeros((4, 4, 3), dtype=np.int32), np.zeros((4, 4), dtype=bool), "uint8"),
    ],
)
def test_bad_input_is_refused(image: np.ndarray, removed: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        impute(image, removed)
