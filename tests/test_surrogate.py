"""The Patchwise surrogate estimator: it recovers known games, reads out what it says, and its
sampled readouts agree with the exact ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.lmms.config import AttributionConfig
from pixelshap_eval.shapley import SurrogateShapley, banzhaf_from_table, coalition_codes, get_estimator, shapley_from_table
from pixelshap_eval.shapley.surrogate import SurrogateEnsemble, r_squared, sampled_banzhaf, sampled_shapley


def indicators(n: int) -> np.ndarray:
    return ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(float)


def solve_on(estimator: SurrogateShapley, table: np.ndarray, n: int, budget: int, seed: int):
    plan = estimator.plan(n, budget, seed)
    return plan, estimator.solve(plan, table[coalition_codes(plan.masks)])


@pytest.mark.parametrize("readout", ["banzhaf", "shapley"])
def test_recovers_an_additive_game(readout):
    n = 8
    weights = np.random.default_rng(4).normal(size=n)
    table = indicators(n) @ weights + 2.0  # Shapley = Banzhaf = the weights
    plan, attribution = solve_on(SurrogateShapley(readout=readout), table, n, 8 * n, 1)
    assert attribution.estimator == "surrogate" and attribution.n_calls == len(plan) <= 8 * n
    assert np.argmax(attribution.scores) == np.argmax(weights)
    assert np.corrcoef(attribution.scores, weights)[0, 1] > 0.99
    np.testing.assert_allclose(attribution.scores, weights, atol=0.25 * np.abs(weights).max())
    assert attribution.diagnostics["surrogate_r2"] > 0.9
    assert np.all(attribution.std_errors > 0) and np.all(np.isfinite(attribution.std_errors))


def test_every_coalition_observed_reads_out_the_game_itself():
    n = 5
    z = indicators(n)
    table = z @ np.arange(1.0, n + 1) + 3 * z[:, 0] * z[:, 1]
    for readout, truth in (("banzhaf", banzhaf_from_table), ("shapley", shapley_from_table)):
        attribution = solve_on(SurrogateShapley(readout=readout), table, n, 1 << n, 2)[1]
        np.testing.assert_allclose(attribution.scores, truth(table), atol=1e-12)
        np.testing.assert_array_equal(attribution.std_errors, 0.0)


def test_a_constant_game_gives_zero_scores():
    plan = SurrogateShapley().plan(7, 40, 0)
    attribution = SurrogateShapley().solve(plan, np.full(len(plan), 0.3))
    np.testing.assert_array_equal(attribution.scores, 0.0)


def test_plan_is_bernoulli_half_beyond_the_fixed_rows():
    n = 12
    plan = SurrogateShapley().plan(n, 400, 3)
    drawn = plan.masks[n + 2 :]
    assert len(plan) == 400 and plan.has_leave_one_out
    assert abs(drawn.mean() - 0.5) < 0.03  # each player present with probability 1/2
    assert abs(np.corrcoef(drawn[:, 0], drawn[:, 1])[0, 1]) < 0.15


def test_more_players_than_exact_readout_uses_the_sampled_readouts():
    n = 16
    weights = np.random.default_rng(0).normal(size=n)
    for readout in ("banzhaf", "shapley"):
        estimator = SurrogateShapley(readout=readout, readout_samples=1024, bootstraps=2)
        plan = estimator.plan(n, 8 * n, 0)
        attribution = estimator.solve(plan, plan.masks @ weights)
        assert np.corrcoef(attribution.scores, weights)[0, 1] > 0.98


@settings(deadline=None, max_examples=8)
@given(n=st.integers(2, 6), seed=st.integers(0, 1000))
def test_sampled_readouts_converge_to_the_exact_readouts_of_the_same_networks(n, seed):
    gen = np.random.default_rng(seed)
    ensemble = SurrogateEnsemble(n, members=2, gen=gen)
    tables = ensemble.predict(indicators(n))
    exact_b = np.array([banzhaf_from_table(t) for t in tables])
    exact_s = np.array([shapley_from_table(t) for t in tables])
    scale = np.abs(tables).max()
    np.testing.assert_allclose(sampled_banzhaf(ensemble, n, 20000, gen), exact_b, atol=0.02 * scale)
    np.testing.assert_allclose(sampled_shapley(ensemble, n, 3000, gen), exact_s, atol=0.02 * scale)


def test_same_plan_same_estimate():
    table = indicators(7) @ np.linspace(-1, 1, 7)
    first = solve_on(SurrogateShapley(), table, 7, 50, 9)[1]
    second = solve_on(SurrogateShapley(), table, 7, 50, 9)[1]
    np.testing.assert_array_equal(first.scores, second.scores)
    assert first.diagnostics == second.diagnostics


def test_r_squared():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    assert r_squared(observed, observed) == 1.0
    assert r_squared(observed, np.full(4, observed.mean())) == 0.0
    assert np.isnan(r_squared(np.ones(3), np.ones(3)))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="readout must be one of"):
        SurrogateShapley(readout="owen")
    with pytest.raises(ValueError, match="bootstraps"):
        get_estimator("surrogate", bootstraps=1)
    with pytest.raises(ValueError, match="set estimator=surrogate"):
        AttributionConfig(estimator="kernel", readout="shapley")
    assert AttributionConfig(estimator="surrogate", readout="shapley").estimator_options == {"readout": "shapley"}
    assert AttributionConfig().estimator_options == {}
