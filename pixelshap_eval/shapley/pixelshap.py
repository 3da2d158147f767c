"""The published PixelSHAP score (Banzhaf-type, normalised to sum 1), for comparison."""

from __future__ import annotations

import numpy as np

from pixelshap_eval.shapley.base import (
    MAX_EXACT_PLAYERS,
    Attribution,
    Coalitions,
    Estimator,
    Seed,
    as_generator,
    check_n_players,
)
from pixelshap_eval.shapley.plans import PlanBuilder, base_rows_count, distinct_uniform_coalitions, total_coalitions


class PixelShapPublished(Estimator):
    """The estimator of the PixelSHAP paper (Goldshmidt & Horovicz; ronigold/TokenSHAP,
    `BaseSHAP._get_result_per_combination` and `_calculate_shapley_values`), for comparison.

    Coalitions: the n leave-one-out ("essential") ones plus k coalitions drawn uniformly
    without replacement from those that are neither empty, full nor leave-one-out. Score: mean
    v over those coalitions containing i minus mean v over those without i (a Banzhaf-type
    difference, not Shapley), then shifted so the smallest is 0 and scaled to sum 1 (all equal
    -> 1/n each), which drops sign and scale. Standard errors are nan: the score is not an
    unbiased estimate of any quantity with a sampling distribution we could state.

    Matches the published code: the full image is only the reference answer (v(N) enters no
    mean), the empty coalition is never evaluated there, k = int((2^n - 1 - n) * sampling_ratio)
    capped by the budget (a sampling_ratio of 1 or more means "budget only", as published).
    Differences: our plans always hold row 0 = empty (one call the published code does not
    make; it enters no mean), so budget = published calls + 1 = max_combinations + 2; draws
    are exactly k distinct coalitions (published: up to 10k rejection attempts, possibly fewer)
    from a seeded generator (published: unseeded `random`); differences within rounding noise
    count as all equal (published: only exact zero). With budget None the published
    default k is used, which grows as 2^n: above 2^14 coalitions a budget is required.
    A single player scores 1.
    """

    name = "pixelshap"

    def __init__(self, sampling_ratio: float = 0.5) -> None:
        if not sampling_ratio >= 0:
            raise ValueError(f"sampling_ratio must be >= 0, got {sampling_ratio}")
        self.sampling_ratio = float(sampling_ratio)

    def _published_random_count(self, n_players: int) -> int:
        available = total_coalitions(n_players) - base_rows_count(n_players)
        if self.sampling_ratio >= 1.0:
            return available
        return min(available, int((total_coalitions(n_players) - 1 - n_players) * self.sampling_ratio))

    def min_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        return base_rows_count(n_players)

    def default_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        count = self._published_random_count(n_players)
        if count > 2**MAX_EXACT_PLAYERS:
            raise ValueError(
                f"the published default samples {count} coalitions for {n_players} players; pass a budget"
            )
        return base_rows_count(n_players) + count

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        builder = PlanBuilder(n, with_leave_one_out=True)
        wanted = min(self._published_random_count(n), budget - len(builder))
        if wanted > 0:
            for row in distinct_uniform_coalitions(n, as_generator(rng)):
                if row not in builder:
                    builder.add(row)
                    if len(builder) - base_rows_count(n) == wanted:
                        break
        return Coalitions(builder.masks(), self.name)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        n = coalitions.n_players
        if n == 1:
            return self._attribution(coalitions, values, np.ones(1), np.full(1, np.nan))
        present, used = coalitions.masks[2:], values[2:]
        raw = np.array([used[present[:, i]].mean() - used[~present[:, i]].mean() for i in range(n)])
        shifted = raw - raw.min()
        if shifted.max() <= 1e-12 * max(1.0, float(np.abs(used).max())):  # all equal up to rounding
            score = np.full(n, 1.0 / n)
        else:
            score = shifted / shifted.sum()
        return self._attribution(coalitions, values, score, np.full(n, np.nan))
