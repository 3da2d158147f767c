"""KernelSHAP: Shapley values by kernel-weighted least squares, efficiency exact, paired sampling."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pixelshap_eval.shapley.base import Attribution, Coalitions, Design, Seed, as_generator
from pixelshap_eval.shapley.plans import PlanBuilder, SamplingEstimator


@dataclass(frozen=True, eq=False)
class KernelDesign(Design):
    """Which coalition sizes were enumerated whole, which were sampled, and the draws."""

    enumerated_sizes: list[int]
    sampled_sizes: list[int]
    draws: np.ndarray  # (draws, 2) row pairs: a coalition and its complement
    sample_counts: np.ndarray  # (rows,) how often each row was drawn


def _kernel_layer_mass(n_players: int, size: int) -> float:
    """Shapley-kernel weight of all coalitions of one size together, (n-1) / (s (n-s))."""
    return (n_players - 1) / (size * (n_players - size))


class KernelShap(SamplingEstimator):
    """KernelSHAP for the Shapley value, with the efficiency constraint enforced exactly.

    Plan (shap-library style): complete coalition-size layers are enumerated in pairs: sizes 1
    and n-1 whenever the budget holds them, then 2 and n-2, 3 and n-3, ... while the budget
    holds the pair AND (the shap library's rule) paired sampling would be expected to spend at
    least that many draws there anyway (enumerating a pair as soon as it merely fits starves
    the sampled layers: at n=12, budget 16n, it doubled the L2 error). The rest of the budget is
    spent on paired draws (a coalition and its complement) from the remaining sizes, each size
    drawn in proportion to its Shapley-kernel mass and then a uniform coalition of that size.
    Draws repeat freely without costing a call: `KernelDesign.draws` keeps the row pair of every
    draw and `KernelDesign.sample_counts` the multiplicity of every row. At budget 2n+2 the plan
    is empty, full, all singletons and all leave-one-outs; at 2^n it is every coalition, and
    the solve is then exact Shapley.

    Solve: kernel-weighted least squares of v(S) - v(empty) on the coalition indicators, with
    sum(phi) = v(N) - v(empty) imposed exactly; enumerated rows carry their exact kernel
    weight, sampled rows share the remaining kernel mass in proportion to their multiplicity.
    Players the rows cannot tell apart share their joint value equally (minimum-norm solution).
    Standard errors: delete-a-group jackknife over the sampled draws (at most `jackknife_groups`
    groups of consecutive draws), deterministic; 0 when every coalition size is enumerated,
    nan when fewer than two draws were sampled but some sizes were not enumerated.

    Default budget: min(2^n, 16n + 2).
    """

    name = "kernel"

    def __init__(self, jackknife_groups: int = 64) -> None:
        if jackknife_groups < 2:
            raise ValueError(f"jackknife_groups must be at least 2, got {jackknife_groups}")
        self.jackknife_groups = jackknife_groups

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        gen = as_generator(rng)
        builder = PlanBuilder(n, with_leave_one_out=budget >= n + 2)
        enumerated: list[int] = []
        for small in range(1, n // 2 + 1):
            sizes = sorted({small, n - small})
            remaining = [s for s in range(1, n) if s not in enumerated]
            planned = sum(1 for row in builder.rows if int(row.sum()) in sizes)
            new_rows = sum(math.comb(n, s) for s in sizes) - planned
            if not self._worth_enumerating(n, sizes, remaining, new_rows, budget - len(builder)):
                break
            for row in _rows_of_sizes(n, sizes):
                builder.add(row)
            enumerated.extend(sizes)
        remaining = [s for s in range(1, n) if s not in enumerated]
        draws = self._draw_pairs(n, remaining, budget, builder, gen)
        masks = builder.masks()
        counts = np.bincount(draws.ravel(), minlength=len(masks)) if len(draws) else np.zeros(len(masks), dtype=int)
        design = KernelDesign(enumerated_sizes=sorted(enumerated), sampled_sizes=remaining, draws=draws, sample_counts=counts)
        return Coalitions(masks, self.name, design)

    @staticmethod
    def _worth_enumerating(n: int, sizes: list[int], remaining: list[int], new_rows: int, room: int) -> bool:
        """Enumerate the pair of layers `sizes`: the first pair whenever it fits; later ones
        only when paired draws would be expected to put at least `new_rows` samples there
        (the shap library's rule)."""
        if new_rows > room:
            return False
        if sizes[0] == 1:
            return True
        share = sum(_kernel_layer_mass(n, s) for s in sizes) / sum(_kernel_layer_mass(n, s) for s in remaining)
        return room * share >= new_rows

    @staticmethod
    def _draw_pairs(
        n: int, sizes: list[int], budget: int, builder: PlanBuilder, gen: np.random.Generator
    ) -> np.ndarray:
        """Paired draws until the next one would exceed the budget (or a cap on repeats)."""
        if not sizes or len(builder) >= budget:
            return np.zeros((0, 2), dtype=int)
        mass = np.array([_kernel_layer_mass(n, s) for s in sizes])
        probabilities = mass / mass.sum()
        draws: list[tuple[int, int]] = []
        for _ in range(20 * budget):
            size = int(gen.choice(sizes, p=probabilities))
            row = np.zeros(n, dtype=bool)
            row[gen.choice(n, size, replace=False)] = True
            pair = [row, ~row]
            if builder.count_new(pair) > budget - len(builder):
                break
            draws.append((builder.add(row), builder.add(~row)))
        return np.array(draws, dtype=int).reshape(-1, 2)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        design = self._design(coalitions, KernelDesign)
        n = coalitions.n_players
        total = values[1] - values[0]
        if n == 1:
            return self._attribution(coalitions, values, np.array([total]), np.zeros(1))
        z = coalitions.masks.astype(float)
        y = values - values[0]
        sizes = coalitions.masks.sum(axis=1)
        full_mass = sum(_kernel_layer_mass(n, s) for s in range(1, n))
        basis = np.linalg.qr(np.ones((n, 1)), mode="complete")[0][:, 1:]  # orthonormal, sum-zero

        enumerated = np.isin(sizes, design.enumerated_sizes) & (sizes > 0) & (sizes < n)
        row_weight = np.array(
            [_kernel_layer_mass(n, s) / math.comb(n, s) / full_mass if e else 0.0 for s, e in zip(sizes, enumerated)]
        )
        a_fixed = (z * row_weight[:, None]).T @ z
        b_fixed = z.T @ (row_weight * y)

        draws = np.asarray(design.draws, dtype=int).reshape(-1, 2)
        sampled_mass = sum(_kernel_layer_mass(n, s) for s in design.sampled_sizes) / full_mass
        if len(draws) == 0:
            phi = _efficient_least_squares(a_fixed, b_fixed, total, basis)
            se = np.zeros(n) if sampled_mass == 0 else np.full(n, np.nan)
            return self._attribution(coalitions, values, phi, se)

        groups = np.array_split(np.arange(len(draws)), min(len(draws), self.jackknife_groups))
        a_groups, b_groups, group_draws = [], [], []
        for members in groups:
            rows = draws[members].ravel()
            a_groups.append(z[rows].T @ z[rows])
            b_groups.append(z[rows].T @ y[rows])
            group_draws.append(len(members))
        a_sum, b_sum = np.sum(a_groups, axis=0), np.sum(b_groups, axis=0)

        def estimate(a_sampled: np.ndarray, b_sampled: np.ndarray, n_draws: int) -> np.ndarray:
            scale = sampled_mass / (2 * n_draws)
            return _efficient_least_squares(a_fixed + scale * a_sampled, b_fixed + scale * b_sampled, total, basis)

        phi = estimate(a_sum, b_sum, len(draws))
        if len(groups) < 2:
            return self._attribution(coalitions, values, phi, np.full(n, np.nan))
        replicates = np.array(
            [estimate(a_sum - a_k, b_sum - b_k, len(draws) - d_k) for a_k, b_k, d_k in zip(a_groups, b_groups, group_draws)]
        )
        k = len(groups)
        se = np.sqrt((k - 1) / k * np.sum((replicates - replicates.mean(axis=0)) ** 2, axis=0))
        return self._attribution(coalitions, values, phi, se)


def _rows_of_sizes(n: int, sizes: list[int]) -> Iterator[np.ndarray]:
    """Every coalition whose size is in `sizes`."""
    for size in sizes:
        for members in itertools.combinations(range(n), size):
            row = np.zeros(n, dtype=bool)
            row[list(members)] = True
            yield row


def _efficient_least_squares(a: np.ndarray, b: np.ndarray, total: float, basis: np.ndarray) -> np.ndarray:
    """argmin phi' A phi - 2 b' phi subject to sum(phi) = total; minimum-norm where A leaves
    directions undetermined (those players then share their value equally).

    Solved in `basis`, an orthonormal basis (n, n-1) of the sum-zero plane, with a symmetric
    pseudo-inverse."""
    n = len(b)
    equal_share = np.full(n, total / n)
    reduced = basis.T @ a @ basis
    rhs = basis.T @ (b - a @ equal_share)
    eigenvalues, eigenvectors = np.linalg.eigh((reduced + reduced.T) / 2)
    keep = eigenvalues > max(eigenvalues.max(initial=0.0), 0.0) * n * np.finfo(float).eps * 10
    if not keep.any():
        return equal_share
    coefficients = eigenvectors[:, keep] @ ((eigenvectors[:, keep].T @ rhs) / eigenvalues[keep])
    phi = equal_share + basis @ coefficients
    efficient: np.ndarray = phi + (total - phi.sum()) / n
    return efficient
