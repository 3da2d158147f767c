"""shapiq (an independent Shapley library) cross-checks our exact values and our estimators, and
the estimator benchmark's shapiq columns spend the same model calls as ours."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from script_modules import load_script

from pixelshap_eval.shapley import ExactShapley, coalition_codes, get_estimator, shapley_from_table

shapiq = pytest.importorskip("shapiq")



def _load_bench():
    return load_script("bench_estimators")


bench = _load_bench()


def shapiq_exact(table: np.ndarray) -> np.ndarray:
    """Shapley values of a value table by shapiq's ExactComputer."""
    n = int(math.log2(len(table)))
    return bench.shapiq_values(shapiq.ExactComputer(bench.TableGame(table), n_players=n)("SV"), n)


@settings(deadline=None, max_examples=25)
@given(n=st.integers(2, 7), seed=st.integers(0, 10_000))
def test_our_exact_shapley_is_shapiqs(n, seed):
    table = np.random.default_rng(seed).normal(size=2**n) * 3 + 1  # v(empty) != 0 on purpose
    expected = shapiq_exact(table)
    np.testing.assert_allclose(shapley_from_table(table), expected, atol=1e-9)
    estimator = ExactShapley()
    coalitions = estimator.plan(n)
    np.testing.assert_allclose(estimator.solve(coalitions, table[coalition_codes(coalitions.masks)]).scores, expected, atol=1e-9)


@pytest.mark.parametrize("name", ["kernel", "permutation"])
def test_our_sampling_estimators_converge_to_shapiqs_exact_values(name):
    n = 9
    tables = [bench.random_game(n, seed) for seed in range(3)]
    errors = []
    for budget in (4 * n, 16 * n, 48 * n):
        runs = [bench.ours(name).run(table, budget, seed) for table in tables for seed in range(4)]
        exacts = [shapiq_exact(table) for table in tables for _ in range(4)]
        errors.append(np.mean([np.linalg.norm(r.scores - e) / np.linalg.norm(e) for r, e in zip(runs, exacts)]))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.1, errors
    full = bench.ours(name).run(tables[0], 2**n, 0).scores  # every coalition: kernel is exact
    if name == "kernel":
        np.testing.assert_allclose(full, shapiq_exact(tables[0]), atol=1e-9)


@pytest.mark.parametrize("name", bench.SHORTCUTS["shapiq:all"])
def test_shapiq_columns_spend_at_most_our_budget_and_find_shapley_values(name):
    n, budget = 7, 40
    table = bench.random_game(n, 1)
    run = bench.ENTRIES[name].run(table, budget, 0)
    assert run.scores.shape == (n,)
    assert budget * 0.8 <= run.calls <= budget  # the repeating samplers get their budget raised to fit ours
    at_all = bench.ENTRIES[name].run(table, 40 * 2**n, 0)
    assert at_all.calls <= 2**n
    assert np.corrcoef(at_all.scores, shapley_from_table(table))[0, 1] > 0.95


def test_the_table_game_counts_distinct_coalitions():
    table = np.arange(8.0)
    game = bench.TableGame(table)
    np.testing.assert_array_equal(game(np.array([[1, 0, 1], [1, 0, 1], [0, 0, 0]], dtype=bool)), [5, 5, 0])
    np.testing.assert_array_equal(game(np.array([0, 1, 0], dtype=bool)), [2])
    assert game.asked == {0, 2, 5}


def test_the_benchmark_names_and_shortcuts():
    assert bench.entry_names("kernel, shapiq:all,kernel") == ["kernel"] + bench.SHORTCUTS["shapiq:all"]
    with pytest.raises(SystemExit, match="unknown estimator 'shapiq:Nope'"):
        bench.entry_names("shapiq:Nope")
    assert get_estimator("kernel").min_budget(5) == bench.ENTRIES["kernel"].min_budget(5)


def test_the_benchmark_runs_end_to_end(capsys):
    assert bench.main(["--vlm", "none", "--sizes", "5", "--games", "1", "--seeds", "2", "--budgets", "2n+2,4n",
                       "--estimators", "kernel,shapiq:kADDSHAP,shapiq:PermutationSamplingSV"]) == 0
    report = capsys.readouterr().out
    assert "| budget | kernel ρ | shapiq:kADDSHAP ρ | shapiq:PermutationSamplingSV ρ |" in report
    summary_rows = [line for line in report.splitlines() if line.startswith(("| 2n+2 |", "| 4n |")) and " ± " in line]
    assert [row.count(" ± ") for row in summary_rows] == [4, 4]  # 3 estimators + kernel − best shapiq
