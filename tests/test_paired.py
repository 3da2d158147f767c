"""Paired bootstrap comparisons: properties of the difference, p-value and regression test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.leaderboard.paired import paired_difference, regression_p_value

SAMPLES = 500
scores = st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=30)


@settings(max_examples=40, deadline=None)
@given(scores)
def test_a_run_against_itself_differs_by_nothing(a):
    d = paired_difference(a, a, samples=SAMPLES)
    assert d.mean == 0 and d.stderr == 0 and d.p_value == 1.0 and d.n == len(a)


@settings(max_examples=40, deadline=None)
@given(scores, st.data())
def test_swapping_the_runs_flips_the_sign_and_keeps_the_p_value(a, data):
    b = data.draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=len(a), max_size=len(a)))
    ab, ba = paired_difference(a, b, samples=SAMPLES), paired_difference(b, a, samples=SAMPLES)
    assert ab.mean == pytest.approx(-ba.mean, abs=1e-12)
    assert ab.stderr == pytest.approx(ba.stderr)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert 0 < ab.p_value <= 1


@settings(max_examples=40, deadline=None)
@given(scores, st.floats(-5, 5))
def test_pairing_removes_what_the_documents_share(a, shift):
    """Adding the same per-document offset to both runs changes nothing."""
    b = np.asarray(a)[::-1]
    offset = np.linspace(0, shift, len(a))
    plain, shifted = paired_difference(a, b, samples=SAMPLES), paired_difference(np.add(a, offset), b + offset, samples=SAMPLES)
    assert shifted.mean == pytest.approx(plain.mean, abs=1e-9)
    assert shifted.p_value == pytest.approx(plain.p_value, abs=1e-9)


def test_a_consistent_gap_is_significant_and_noise_is_not():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 40)
    assert paired_difference(base + 0.2 + rng.normal(0, 0.05, 40), base).p_value < 0.01
    noise = paired_difference(base + rng.normal(0, 0.05, 40), base)
    assert noise.p_value > 0.05


@settings(max_examples=40, deadline=None)
@given(scores, st.floats(0, 0.5))
def test_no_regression_when_the_candidate_is_at_least_as_good(a, gain):
    assert regression_p_value(np.add(a, gain), a, margin=0.0, samples=SAMPLES) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 40), st.floats(0.05, 0.5), st.floats(0, 0.04))
def test_a_constant_drop_beyond_the_margin_is_a_regression_and_within_it_is_not(n, drop, margin):
    base = np.linspace(0, 1, n) + 1
    assert regression_p_value(base - drop, base, margin=margin, samples=SAMPLES) < 0.01
    assert regression_p_value(base - drop, base, margin=drop + 0.01, samples=SAMPLES) == 1.0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1, 2], [1])
    with pytest.raises(ValueError, match="at least one shared document"):
        paired_difference([], [])
    assert paired_difference([1.0], [0.0]).p_value == 1.0  # one document is no evidence
    with pytest.raises(ValueError, match="margin must be >= 0"):
        regression_p_value([1], [1], margin=-1)
