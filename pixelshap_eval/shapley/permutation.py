"""Permutation sampling of the Shapley value, with antithetic (reversed) orders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelshap_eval.shapley.base import Attribution, Coalitions, Design, Seed, as_generator, check_n_players
from pixelshap_eval.shapley.plans import PlanBuilder, SamplingEstimator, total_coalitions


@dataclass(frozen=True, eq=False)
class PermutationDesign(Design):
    """The sampled player orders and, per order, the plan row of each of its n+1 prefixes."""

    orders: np.ndarray  # (orders, n)
    chains: np.ndarray  # (orders, n + 1)


class PermutationShapley(SamplingEstimator):
    """Permutation sampling of the Shapley value with antithetic permutations.

    Each random order of the players is drawn together with its reverse; a player's estimate
    is its mean marginal contribution along the orders. The coalitions of all chains are
    shared rows (the budget counts unique coalitions); pairs of orders are drawn until the next
    pair would exceed the budget (at most `budget` pairs, which only binds once every
    coalition is planned). Each order's contributions sum to v(N) - v(empty), so efficiency is
    exact. Standard error: spread of the per-pair mean contributions over the pairs (nan with
    one pair). One pair needs 3n-2 coalitions (the minimum budget); default min(2^n, 16n+2).
    Antithetic pairs cancel every pairwise interaction exactly, so games of additive and
    pairwise terms are solved exactly by a single pair.
    """

    name = "permutation"

    def min_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        if n_players == 1:
            return 2
        return min(total_coalitions(n_players), 3 * n_players - 2)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        gen = as_generator(rng)
        builder = PlanBuilder(n, with_leave_one_out=budget >= n + 2)
        orders, chains = [], []
        for _ in range(budget):
            forward = gen.permutation(n)
            pair = [forward, forward[::-1]]
            pair_rows = [_prefix_rows(order) for order in pair]
            if builder.count_new([r for rows in pair_rows for r in rows]) > budget - len(builder):
                break
            for order, rows in zip(pair, pair_rows):
                orders.append(order)
                chains.append([builder.add(r) for r in rows])
        design = PermutationDesign(orders=np.array(orders, dtype=int), chains=np.array(chains, dtype=int))
        return Coalitions(builder.masks(), self.name, design)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        design = self._design(coalitions, PermutationDesign)
        orders, chains = design.orders, design.chains
        n = coalitions.n_players
        steps = values[chains[:, 1:]] - values[chains[:, :-1]]
        contributions = np.zeros_like(steps)
        np.put_along_axis(contributions, orders, steps, axis=1)
        pair_means = contributions.reshape(-1, 2, n).mean(axis=1)
        phi = pair_means.mean(axis=0)
        if len(pair_means) < 2:
            se = np.full(n, np.nan)
        else:
            se = pair_means.std(axis=0, ddof=1) / np.sqrt(len(pair_means))
        return self._attribution(coalitions, values, phi, se)


def _prefix_rows(order: np.ndarray) -> list[np.ndarray]:
    """The n+1 coalitions of a chain: empty, the first player of `order`, the first two, ..., all."""
    n = len(order)
    rows = np.zeros((n + 1, n), dtype=bool)
    for k, player in enumerate(order, start=1):
        rows[k:, player] = True
    return list(rows)
