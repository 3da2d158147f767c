"""Leave-one-out: v(N) - v(N minus i), a first-order score (not Shapley)."""

from __future__ import annotations

import numpy as np

from pixelshap_eval.shapley.base import Attribution, Coalitions, Estimator, Seed, check_n_players
from pixelshap_eval.shapley.plans import PlanBuilder, base_rows_count


class LeaveOneOut(Estimator):
    """Leave-one-out: v(N) - v(N minus i). A first-order score, NOT the Shapley value: it misses
    every interaction (two redundant objects both score 0). n+2 calls (empty, full, the n
    leave-one-outs); the score is a fixed function of the values, so standard errors are 0."""

    name = "loo"

    def min_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        return base_rows_count(n_players)

    def default_budget(self, n_players: int) -> int:
        return self.min_budget(n_players)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        self.resolve_budget(n_players, budget)
        return Coalitions(PlanBuilder(n_players, with_leave_one_out=True).masks(), self.name)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        n = coalitions.n_players
        rows = [coalitions.index_of(~np.eye(n, dtype=bool)[i]) for i in range(n)]
        phi = values[1] - values[np.array(rows)]
        return self._attribution(coalitions, values, phi, np.zeros(n))
