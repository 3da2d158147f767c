"""Monte Carlo Banzhaf values (not Shapley), with maximum sample reuse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelshap_eval.shapley.base import Attribution, Coalitions, Design, Seed, as_generator
from pixelshap_eval.shapley.plans import PlanBuilder, SamplingEstimator, distinct_uniform_coalitions


@dataclass(frozen=True, eq=False)
class BanzhafDesign(Design):
    """The plan rows drawn uniformly (the fixed rows count only when drawn)."""

    draws: np.ndarray  # (draws,)


class MonteCarloBanzhaf(SamplingEstimator):
    """Monte Carlo BANZHAF values (not Shapley): the mean of v(S with i) - v(S without i) over
    uniformly random S, estimated with maximum sample reuse (Wang & Jia 2023): mean v over the
    drawn coalitions containing i minus mean v over those without i.

    Coalitions are drawn uniformly without replacement (every coalition once at budget 2^n,
    which then gives the exact Banzhaf value); draws that hit the fixed rows (empty, full,
    leave-one-outs) are free. `BanzhafDesign.draws` lists the drawn rows. Standard errors: Welch
    (var_in / n_in + var_out / n_out) with a finite-population correction; a player never (or
    always) drawn gets nan. Default budget: min(2^n, 16n + 2).
    """

    name = "banzhaf"

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        builder = PlanBuilder(n, with_leave_one_out=budget >= n + 2)
        draws = []
        for row in distinct_uniform_coalitions(n, as_generator(rng)):
            if builder.count_new([row]) > budget - len(builder):
                break
            draws.append(builder.add(row))
        return Coalitions(builder.masks(), self.name, BanzhafDesign(draws=np.array(draws, dtype=int)))

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        n = coalitions.n_players
        draws = np.asarray(self._design(coalitions, BanzhafDesign).draws, dtype=int)
        present = coalitions.masks[draws]
        drawn_values = values[draws]
        half_population = 2.0 ** (n - 1)
        phi, se = np.full(n, np.nan), np.full(n, np.nan)
        for i in range(n):
            with_i, without_i = drawn_values[present[:, i]], drawn_values[~present[:, i]]
            if len(with_i) == 0 or len(without_i) == 0:
                continue
            phi[i] = with_i.mean() - without_i.mean()
            if len(with_i) >= 2 and len(without_i) >= 2:
                se[i] = np.sqrt(
                    sum(
                        part.var(ddof=1) / len(part) * _finite_population_correction(len(part), half_population)
                        for part in (with_i, without_i)
                    )
                )
        return self._attribution(coalitions, values, phi, se)


def _finite_population_correction(sample: int, population: float) -> float:
    return max(0.0, (population - sample) / (population - 1)) if population > 1 else 0.0
