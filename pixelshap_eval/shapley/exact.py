"""Exact Shapley values from all 2^n coalitions."""

from __future__ import annotations

import numpy as np

from pixelshap_eval.shapley.base import (
    MAX_EXACT_PLAYERS,
    Attribution,
    Coalitions,
    Estimator,
    Seed,
    check_n_players,
    check_values,
)
from pixelshap_eval.shapley.plans import PlanBuilder, total_coalitions
from pixelshap_eval.shapley.tables import coalition_codes, shapley_from_table


class ExactShapley(Estimator):
    """Exact Shapley values from all 2^n coalitions (n <= 14); standard errors are 0."""

    name = "exact"

    def min_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        if n_players > MAX_EXACT_PLAYERS:
            raise ValueError(
                f"exact Shapley enumerates 2^n coalitions and allows at most {MAX_EXACT_PLAYERS} players, "
                f"got {n_players}; use 'kernel' or 'permutation' instead"
            )
        return total_coalitions(n_players)

    def default_budget(self, n_players: int) -> int:
        return self.min_budget(n_players)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        self.resolve_budget(n_players, budget)
        builder = PlanBuilder(n_players, with_leave_one_out=True)
        weights = 1 << np.arange(n_players)
        for code in range(total_coalitions(n_players)):
            builder.add((code & weights) > 0)
        return Coalitions(builder.masks(), self.name)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = check_values(coalitions, values)
        n = coalitions.n_players
        if n > MAX_EXACT_PLAYERS:
            raise ValueError(f"exact Shapley allows at most {MAX_EXACT_PLAYERS} players, got {n}")
        codes = coalition_codes(coalitions.masks)
        table = np.full(total_coalitions(n), np.nan)
        table[codes] = values
        missing = int(np.isnan(table).sum())
        if missing:
            raise ValueError(f"exact Shapley needs all {len(table)} coalitions of {n} players; {missing} are missing")
        return self._attribution(coalitions, values, shapley_from_table(table), np.zeros(n))
