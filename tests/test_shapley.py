"""Shapley estimators: exactness, axioms, convergence, honest standard errors, plan invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.shapley import (
    ESTIMATORS,
    Coalitions,
    ExactShapley,
    KernelShap,
    LeaveOneOut,
    MonteCarloBanzhaf,
    PermutationShapley,
    PixelShapPublished,
    banzhaf_from_table,
    coalition_codes,
    get_estimator,
    shapley_from_table,
)

SAMPLING = ("kernel", "permutation", "banzhaf", "pixelshap")


def indicator_matrix(n: int) -> np.ndarray:
    """(2^n, n) presence of each player in each coalition code."""
    codes = np.arange(2**n)
    return ((codes[:, None] >> np.arange(n)) & 1).astype(float)


def interaction_game(n: int, seed: int) -> np.ndarray:
    """Value table of a game with additive, pairwise and third-order terms."""
    rng = np.random.default_rng(seed)
    z = indicator_matrix(n)
    pairwise = np.triu(rng.normal(scale=0.5, size=(n, n)), 1)
    table = z @ rng.normal(size=n) + np.einsum("ci,ij,cj->c", z, pairwise, z)
    table += 2.0 * z[:, :3].prod(axis=1) - 1.5 * z[:, 3:6].prod(axis=1)
    return table + rng.normal()


def run(estimator, table: np.ndarray, budget: int | None = None, seed: int = 0):
    n = int(math.log2(len(table)))
    coalitions = estimator.plan(n, budget, seed)
    return coalitions, estimator.solve(coalitions, table[coalition_codes(coalitions.masks)])


def shapley_by_permutations(table: np.ndarray) -> np.ndarray:
    """The textbook definition: mean marginal contribution over all n! orders."""
    n = int(math.log2(len(table)))
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        code = 0
        for player in order:
            phi[player] += table[code | (1 << player)] - table[code]
            code |= 1 << player
    return phi / math.factorial(n)


# ------------------------------------------------------------------ exact and the axioms


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_exact_matches_the_permutation_definition_on_random_games(n, seed):
    table = np.random.default_rng(seed).normal(size=2**n)
    coalitions, attribution = run(ExactShapley(), table)
    expected = shapley_by_permutations(table)
    np.testing.assert_allclose(shapley_from_table(table), expected, atol=1e-10)
    np.testing.assert_allclose(attribution.scores, expected, atol=1e-10)
    assert np.all(attribution.std_errors == 0)
    assert attribution.n_calls == len(coalitions) == 2**n


@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 9), extra=st.integers(0, 200), seed=st.integers(0, 10_000))
def test_efficiency_is_exact_at_any_budget(n, extra, seed):
    table = np.random.default_rng(seed).normal(size=2**n)
    total = table[-1] - table[0]
    for estimator in (KernelShap(), PermutationShapley()):
        budget = min(2**n, estimator.min_budget(n) + extra)
        _, attribution = run(estimator, table, budget, seed)
        assert attribution.scores.sum() == pytest.approx(total, abs=1e-9)
    if n <= 8:
        assert run(ExactShapley(), table)[1].scores.sum() == pytest.approx(total, abs=1e-9)


def symmetric_game_with_null_player(n: int, seed: int) -> np.ndarray:
    """Players 0 and 1 interchangeable, player n-1 never changes anything (n >= 4)."""
    rng = np.random.default_rng(seed)
    z = indicator_matrix(n)
    weights = rng.normal(size=n)
    weights[1], weights[-1] = weights[0], 0.0
    table = z @ weights + 1.3 * z[:, 0] * z[:, 2] + 1.3 * z[:, 1] * z[:, 2] - 0.8 * z[:, : n - 1].prod(axis=1)
    return table + rng.normal(scale=0.4) * (z[:, 0] * z[:, 1])


@settings(deadline=None, max_examples=15)
@given(n=st.integers(4, 9), seed=st.integers(0, 10_000))
def test_symmetry_and_null_player_for_exact_and_full_budget_kernel(n, seed):
    table = symmetric_game_with_null_player(n, seed)
    exact = run(ExactShapley(), table)[1]
    kernel = run(KernelShap(), table, budget=2**n, seed=seed)[1]
    for attribution in (exact, kernel):
        assert attribution.scores[0] == pytest.approx(attribution.scores[1], abs=1e-9)
        assert attribution.scores[-1] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(kernel.scores, exact.scores, atol=1e-9)
    assert np.all(kernel.std_errors == 0)


@settings(deadline=None, max_examples=15)
@given(n=st.integers(2, 12), seed=st.integers(0, 10_000))
def test_kernel_and_permutation_recover_additive_games_at_their_smallest_useful_budget(n, seed):
    weights = np.random.default_rng(seed).normal(size=n)
    table = indicator_matrix(n) @ weights + 0.7
    for estimator, budget in ((KernelShap(), min(2**n, 2 * n + 2)), (PermutationShapley(), None)):
        budget = budget or estimator.min_budget(n)
        np.testing.assert_allclose(run(estimator, table, budget, seed)[1].scores, weights, atol=1e-9)


def test_antithetic_permutations_are_exact_on_pairwise_games():
    n = 9
    rng = np.random.default_rng(3)
    z = indicator_matrix(n)
    table = z @ rng.normal(size=n) + np.einsum("ci,ij,cj->c", z, np.triu(rng.normal(size=(n, n)), 1), z)
    attribution = run(PermutationShapley(), table, budget=3 * n - 2, seed=5)[1]
    np.testing.assert_allclose(attribution.scores, shapley_from_table(table), atol=1e-9)


# ------------------------------------------------------------------ sampling quality


def mean_error(name: str, n: int, budget: int, seeds: range, truth=shapley_from_table) -> float:
    table = interaction_game(n, 11)
    target = truth(table)
    estimator = get_estimator(name)
    return float(np.mean([np.linalg.norm(run(estimator, table, budget, s)[1].scores - target) for s in seeds]))


@pytest.mark.parametrize(
    ("name", "truth"), [("kernel", shapley_from_table), ("permutation", shapley_from_table), ("banzhaf", banzhaf_from_table)]
)
def test_sampling_estimators_converge_as_the_budget_grows(name, truth):
    n = 9
    errors = [mean_error(name, n, budget, range(12), truth) for budget in (4 * n, 12 * n, 40 * n)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5 * errors[0]


@pytest.mark.parametrize(("name", "budget"), [("kernel", 64), ("kernel", 128), ("permutation", 128), ("banzhaf", 96)])
def test_standard_errors_cover_the_truth_at_about_the_nominal_rate(name, budget):
    n = 8
    table = interaction_game(n, 0)
    truth = banzhaf_from_table(table) if name == "banzhaf" else shapley_from_table(table)
    estimator = get_estimator(name)
    covered = []
    for seed in range(120):
        attribution = run(estimator, table, budget, seed)[1]
        # exact cancellations (e.g. antithetic pairs on pairwise terms) give error and se ~1e-16
        covered.append(np.abs(attribution.scores - truth) <= 1.96 * attribution.std_errors + 1e-9)
    assert 0.88 <= np.mean(covered) <= 0.99


def test_monte_carlo_banzhaf_is_exact_when_every_coalition_is_drawn():
    table = interaction_game(6, 2)
    attribution = run(MonteCarloBanzhaf(), table, budget=64, seed=1)[1]
    np.testing.assert_allclose(attribution.scores, banzhaf_from_table(table), atol=1e-12)
    np.testing.assert_allclose(attribution.std_errors, 0.0, atol=1e-12)


def test_banzhaf_from_table_matches_its_definition():
    table = np.random.default_rng(4).normal(size=8)
    by_hand = [np.mean([table[c | (1 << i)] - table[c] for c in range(8) if not c >> i & 1]) for i in range(3)]
    np.testing.assert_allclose(banzhaf_from_table(table), by_hand)


# ------------------------------------------------------------------ plans


@settings(deadline=None, max_examples=40)
@given(name=st.sampled_from(sorted(ESTIMATORS)), n=st.integers(1, 10), extra=st.integers(0, 150), seed=st.integers(0, 99))
def test_plan_invariants(name, n, extra, seed):
    estimator = get_estimator(name)
    if name == "exact" and n > 8:
        n = 8
    budget = estimator.min_budget(n) + extra
    coalitions = estimator.plan(n, budget, seed)
    masks = coalitions.masks
    assert masks.dtype == bool and masks.shape[1] == n
    assert len(coalitions) <= budget
    assert len(np.unique(coalition_codes(masks))) == len(masks)
    assert not masks[0].any() and masks[1].all()
    if n >= 2:
        assert coalitions.has_leave_one_out
    assert coalitions.estimator == name


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_same_seed_same_plan_and_result_different_seed_different_plan(name):
    n = 7
    estimator = get_estimator(name)
    budget = None if name in ("exact", "loo") else 60
    first, second = estimator.plan(n, budget, 3), estimator.plan(n, budget, 3)
    assert np.array_equal(first.masks, second.masks)
    from_generator = estimator.plan(n, budget, np.random.default_rng(3))
    assert np.array_equal(first.masks, from_generator.masks)
    table = interaction_game(n, 5)
    a, b = (estimator.solve(c, table[coalition_codes(c.masks)]) for c in (first, second))
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.std_errors, b.std_errors)
    if name in SAMPLING:
        assert not np.array_equal(first.masks, estimator.plan(n, budget, 4).masks)


def test_kernel_at_2n_plus_2_is_empty_full_singletons_and_leave_one_outs():
    n = 6
    coalitions = KernelShap().plan(n, 2 * n + 2, 0)
    sizes = sorted(coalitions.masks.sum(axis=1).tolist())
    assert sizes == [0] + [1] * n + [n - 1] * n + [n]
    assert coalitions.design.enumerated_sizes == [1, n - 1]
    assert len(coalitions.design.draws) == 0


@settings(deadline=None, max_examples=25)
@given(
    n=st.integers(3, 9), extra=st.integers(0, 120), seed=st.integers(0, 10_000),
    ridge=st.sampled_from([0.0, 0.5, 10.0, 1e3, 1e9]),
)
def test_kernel_ridge_keeps_efficiency_additive_exactness_and_linearity(n, extra, seed, ridge):
    estimator = KernelShap(ridge=ridge, shrinkage=0.0)  # the data-dependent James-Stein factor off
    budget = min(2**n, 2 * n + 2 + extra)  # singletons planned: additive games are then exact
    coalitions = estimator.plan(n, budget, seed)
    rng = np.random.default_rng(seed)
    first, second = rng.normal(size=2**n), rng.normal(size=2**n)
    codes = coalition_codes(coalitions.masks)
    phi = [estimator.solve(coalitions, table[codes]).scores for table in (first, second, 2.0 * first - 3.0 * second)]
    assert phi[0].sum() == pytest.approx(first[-1] - first[0], abs=1e-8)
    # the ridge strength is a function of the plan alone, so the solve is linear in the values
    np.testing.assert_allclose(phi[2], 2.0 * phi[0] - 3.0 * phi[1], atol=1e-7)
    weights = rng.normal(size=n)
    additive = indicator_matrix(n) @ weights - 0.4
    np.testing.assert_allclose(estimator.solve(coalitions, additive[codes]).scores, weights, atol=1e-7)


def test_kernel_ridge_interpolates_between_least_squares_and_the_enumerated_layers():
    n = 8
    table = interaction_game(n, 3)
    coalitions = KernelShap().plan(n, 4 * n, 5)
    assert coalitions.design.enumerated_sizes == [1, n - 1] and len(coalitions.design.draws) > 0
    values = table[coalition_codes(coalitions.masks)]
    enumerated_only = run(KernelShap(), table, 2 * n + 2)[1].scores  # the same fixed rows, no draws
    plain = KernelShap(ridge=0.0, shrinkage=0.0).solve(coalitions, values).scores
    stiff = KernelShap(ridge=1e12, shrinkage=0.0).solve(coalitions, values).scores
    default = KernelShap(shrinkage=0.0).solve(coalitions, values)
    np.testing.assert_allclose(stiff, enumerated_only, atol=1e-6)
    assert not np.allclose(plain, enumerated_only, atol=1e-3)
    # the default ridge lies strictly between the two, nearer neither end than the ends are apart
    gap = np.linalg.norm(plain - enumerated_only)
    assert 0 < np.linalg.norm(default.scores - plain) < gap and 0 < np.linalg.norm(default.scores - enumerated_only) < gap
    # its standard errors count the ridge's bias (the gap to the unridged solve) besides the variance
    assert np.all(default.std_errors >= np.abs(default.scores - plain) - 1e-12)


def test_kernel_rejects_a_negative_ridge():
    with pytest.raises(ValueError, match="ridge"):
        KernelShap(ridge=-1.0)


def test_kernel_draws_distinct_pairs_stratified_by_kernel_mass():
    n = 10
    coalitions = KernelShap().plan(n, 120, 0)
    draws, counts = coalitions.design.draws, coalitions.design.sample_counts
    assert len(np.unique(coalition_codes(coalitions.masks))) == len(coalitions) == 120
    assert np.array_equal(counts, np.bincount(draws.ravel(), minlength=len(coalitions))) and counts.max() == 1
    paired = coalitions.masks[draws]
    assert np.all(paired[:, 0] == ~paired[:, 1])
    layers = np.minimum(paired[:, 0].sum(axis=1), n - paired[:, 0].sum(axis=1))
    per_layer = np.bincount(layers, minlength=n // 2 + 1)[2:]  # sizes 1 and n-1 are enumerated
    mass = np.array([(1 if 2 * t == n else 2) / (t * (n - t)) for t in range(2, n // 2 + 1)])
    np.testing.assert_allclose(per_layer, mass / mass.sum() * len(draws), atol=1)


def test_permutation_budget_counts_unique_coalitions():
    n = 10
    coalitions = PermutationShapley().plan(n, 100, 0)
    orders, chains = coalitions.design.orders, coalitions.design.chains
    assert len(orders) % 2 == 0 and np.array_equal(orders[1::2], orders[0::2, ::-1])
    assert len(coalitions) <= 100 < chains.size
    for order, chain in zip(orders, chains):
        sizes = coalitions.masks[chain].sum(axis=1)
        assert np.array_equal(sizes, np.arange(n + 1))
        assert all(coalitions.masks[chain[k + 1], order[k]] for k in range(n))


def test_index_of_finds_planned_coalitions_only():
    coalitions = LeaveOneOut().plan(4)
    assert coalitions.index_of([False] * 4) == 0
    assert coalitions.index_of(np.ones(4, dtype=bool)) == 1
    assert coalitions.index_of([True, True, False, True]) == 4
    assert coalitions.index_of([True, False, False, False]) is None
    with pytest.raises(ValueError, match="4 entries"):
        coalitions.index_of([True, False])


def test_default_budgets():
    assert KernelShap().default_budget(12) == 16 * 12 + 2
    assert 16 * 12 <= len(KernelShap().plan(12)) <= 16 * 12 + 2
    assert len(KernelShap().plan(4)) == 16
    assert len(LeaveOneOut().plan(9)) == 11
    assert len(ExactShapley().plan(5)) == 32
    assert len(PixelShapPublished().plan(5)) == 5 + 2 + int((2**5 - 1 - 5) * 0.5)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_a_single_player_gets_the_whole_difference(name):
    estimator = get_estimator(name)
    coalitions = estimator.plan(1)
    attribution = estimator.solve(coalitions, np.array([0.25, 2.0]))
    assert len(coalitions) == 2
    expected = 1.0 if name == "pixelshap" else 1.75
    assert attribution.scores.tolist() == [pytest.approx(expected)]


@pytest.mark.parametrize("name", ["kernel", "permutation", "banzhaf", "pixelshap"])
def test_many_players_plan_within_budget_and_solve(name):
    n, budget = 40, 150
    weights = np.random.default_rng(0).normal(size=n)
    estimator = get_estimator(name)
    coalitions = estimator.plan(n, budget, 1)
    assert len(coalitions) <= budget and coalitions.has_leave_one_out
    assert len({row.tobytes() for row in coalitions.masks}) == len(coalitions)
    attribution = estimator.solve(coalitions, coalitions.masks @ weights)
    assert np.isfinite(attribution.scores).all()
    if name in ("kernel", "permutation"):
        np.testing.assert_allclose(attribution.scores, weights, atol=1e-8)


# ------------------------------------------------------------------ leave-one-out and PixelSHAP


def test_leave_one_out_is_the_drop_from_the_full_value():
    table = interaction_game(5, 8)
    coalitions, attribution = run(LeaveOneOut(), table)
    full = table[-1]
    expected = [full - table[(2**5 - 1) & ~(1 << i)] for i in range(5)]
    np.testing.assert_allclose(attribution.scores, expected)
    assert attribution.n_calls == 7 and coalitions.has_leave_one_out


def test_pixelshap_published_score_matches_a_hand_computed_example():
    values_by_members = {
        (): 0.0, (0, 1, 2): 1.0,  # neither enters the published score
        (1, 2): 0.6, (0, 2): 0.8, (0, 1): 0.9, (0,): 0.5, (1,): 0.2, (2,): 0.1,
    }
    estimator = PixelShapPublished(sampling_ratio=1.0)
    coalitions = estimator.plan(3, 8, 0)
    members = [tuple(np.flatnonzero(row)) for row in coalitions.masks]
    values = np.array([values_by_members[m] for m in members])
    # with - without: player 0: 2.2/3 - 0.9/3; player 1: 1.7/3 - 1.4/3; player 2: 1.5/3 - 1.6/3
    # shifted by the minimum (-0.1/3) and scaled to sum 1: [1.4, 0.4, 0] / 1.8
    attribution = estimator.solve(coalitions, values)
    np.testing.assert_allclose(attribution.scores, [7 / 9, 2 / 9, 0.0])
    assert np.all(np.isnan(attribution.std_errors))
    shifted = values.copy()
    shifted[0], shifted[1] = -5.0, 9.0
    np.testing.assert_allclose(estimator.solve(coalitions, shifted).scores, attribution.scores)


def test_pixelshap_published_sampling_follows_the_ratio_and_skips_fixed_rows():
    estimator = PixelShapPublished()  # published default ratio 0.5
    coalitions = estimator.plan(6, 1000, 0)
    assert len(coalitions) == 6 + 2 + int((2**6 - 1 - 6) * 0.5)
    capped = estimator.plan(6, 20, 0)
    assert len(capped) == 20 and capped.has_leave_one_out
    equal = estimator.solve(capped, np.full(20, 0.3))
    np.testing.assert_allclose(equal.scores, 1 / 6)


# ------------------------------------------------------------------ errors


def test_clear_errors_for_bad_budgets_players_and_names():
    with pytest.raises(ValueError, match="at least 32"):
        ExactShapley().plan(5, 31)
    with pytest.raises(ValueError, match="at most 14 players"):
        ExactShapley().plan(15)
    with pytest.raises(ValueError, match="at least 28"):
        PermutationShapley().plan(10, 27)
    with pytest.raises(ValueError, match="at least 12"):
        KernelShap().plan(10, 11)
    with pytest.raises(ValueError, match="positive integer"):
        KernelShap().plan(0)
    with pytest.raises(TypeError, match="integer number of coalitions"):
        KernelShap().plan(4, 10.5)
    with pytest.raises(ValueError, match="choose one of"):
        get_estimator("shapley")
    with pytest.raises(ValueError, match="pass a budget"):
        PixelShapPublished().plan(40)
    with pytest.raises(TypeError, match="rng must be"):
        KernelShap().plan(4, None, "seed")


def test_clear_errors_for_bad_values():
    estimator = KernelShap()
    coalitions = estimator.plan(4, 12, 0)
    with pytest.raises(ValueError, match="one value per planned coalition"):
        estimator.solve(coalitions, np.zeros(5))
    values = np.zeros(len(coalitions))
    values[3] = np.nan
    with pytest.raises(ValueError, match=r"rows \[3\]"):
        estimator.solve(coalitions, values)
    with pytest.raises(ValueError, match="planned by 'kernel'"):
        PermutationShapley().solve(coalitions, np.zeros(len(coalitions)))
    with pytest.raises(ValueError, match="needs all 16 coalitions"):
        ExactShapley().solve(coalitions, np.zeros(len(coalitions)))
    with pytest.raises(ValueError, match="empty and the full"):
        ExactShapley().solve(Coalitions(np.ones((2, 1), dtype=bool), "exact"), np.zeros(2))
