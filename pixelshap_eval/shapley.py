"""How coalition values become Shapley estimates.

Every estimator is split in two pure steps, because lmms-eval builds every request of a task
before the model runs:

- `plan(n_players, budget, rng) -> Coalitions`: the coalitions to ask about, fixed up front
  (a pure function of n, budget and seed);
- `solve(coalitions, values) -> Attribution`: whatever values came back -> estimates.

Conventions shared by every plan: row 0 is the empty coalition, row 1 the full one, rows
2..n+1 the leave-one-out coalitions whenever the budget is at least n+2 (so a "similarity drop"
never costs extra calls), and rows are unique (a row is a model call; an estimator that draws
the same coalition twice keeps the multiplicity in `Coalitions.design`, not in the rows).
The budget counts rows, empty and full included.

Estimators (`ESTIMATORS`, `get_estimator`):

| name | target | calls |
| --- | --- | --- |
| `exact` | Shapley, exact | 2^n (n <= 14) |
| `kernel` | Shapley (KernelSHAP, efficiency exact, paired sampling) | any budget >= n+2 |
| `permutation` | Shapley (antithetic permutation sampling) | >= 3n-2 |
| `loo` | leave-one-out v(N) - v(N minus i); first order, not Shapley | n+2 |
| `banzhaf` | Banzhaf, not Shapley (maximum-sample-reuse Monte Carlo) | any budget >= n+2 |
| `pixelshap` | PixelSHAP's published score (Banzhaf-type, normalised to sum 1) | any budget >= n+2 |
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

MAX_EXACT_PLAYERS = 14
SAMPLING_CALLS_PER_PLAYER = 16  # default budget of the sampling estimators: 16 n + 2 rows (capped at 2^n)

Seed = int | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Coalitions:
    """The planned coalitions of one game.

    `masks[k, i]` is True when player i is present (visible) in coalition k. Rows are unique:
    each row is one model call. Row 0 is the empty coalition, row 1 the full one, and rows
    2..n+1 the leave-one-out coalitions (N minus player i, in player order) whenever
    `has_leave_one_out`. `design` holds what the estimator's solve needs beyond the masks
    (sampling multiplicities, permutation orders, ...).
    """

    masks: np.ndarray
    estimator: str
    design: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 2:
            raise ValueError(f"Coalitions.masks must be 2-D (coalitions, players), got shape {masks.shape}")
        object.__setattr__(self, "masks", masks.astype(bool, copy=False))

    @property
    def n_players(self) -> int:
        return int(self.masks.shape[1])

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def has_leave_one_out(self) -> bool:
        n = self.n_players
        if len(self) < n + 2:
            return False
        return bool(np.array_equal(self.masks[2 : n + 2], ~np.eye(n, dtype=bool)))

    def index_of(self, mask: np.ndarray | list[bool] | tuple[bool, ...]) -> int | None:
        """Row of the coalition `mask` (True = present), or None when it was not planned."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_players,):
            raise ValueError(f"a coalition of this plan has {self.n_players} entries, got shape {mask.shape}")
        rows = np.flatnonzero((self.masks == mask).all(axis=1))
        return int(rows[0]) if len(rows) else None


@dataclass(frozen=True, eq=False)
class Attribution:
    """Per-player estimates of one game, with their standard errors."""

    values: np.ndarray  # (n,)
    std_errors: np.ndarray  # (n,)
    n_calls: int
    estimator: str
    value_empty: float
    value_full: float


class Estimator(ABC):
    """An attribution estimator: a plan of coalitions, then a solve on their values."""

    name: ClassVar[str]

    @abstractmethod
    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        """Coalitions to evaluate, at most `budget` of them (None: the estimator's default)."""

    @abstractmethod
    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        """Estimates from the values of `coalitions.masks`, row by row."""

    @abstractmethod
    def min_budget(self, n_players: int) -> int:
        """The fewest rows a plan for `n_players` may have."""

    @abstractmethod
    def default_budget(self, n_players: int) -> int:
        """The rows a plan gets when no budget is given."""

    def resolve_budget(self, n_players: int, budget: int | None) -> int:
        """`budget`, or the default when None; too small -> ValueError naming the minimum."""
        _check_n_players(n_players)
        if budget is None:
            return self.default_budget(n_players)
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
            raise TypeError(f"budget must be an integer number of coalitions (or None), got {budget!r}")
        minimum = self.min_budget(n_players)
        if budget < minimum:
            raise ValueError(
                f"estimator {self.name!r} needs a budget of at least {minimum} coalitions for {n_players} players, "
                f"got {budget}"
            )
        return int(budget)

    def _values_for(self, coalitions: Coalitions, values: np.ndarray) -> np.ndarray:
        """The values as a float vector, after checking they belong to a plan of this estimator."""
        if coalitions.estimator != self.name:
            raise ValueError(
                f"these coalitions were planned by {coalitions.estimator!r}; solve them with that estimator, "
                f"not {self.name!r}"
            )
        return _check_values(coalitions, values)

    def _attribution(self, coalitions: Coalitions, values: np.ndarray, phi: np.ndarray, se: np.ndarray) -> Attribution:
        return Attribution(
            values=np.asarray(phi, dtype=float),
            std_errors=np.asarray(se, dtype=float),
            n_calls=len(coalitions),
            estimator=self.name,
            value_empty=float(values[0]),
            value_full=float(values[1]),
        )


# --------------------------------------------------------------------------------------------
# Helpers shared by the plans
# --------------------------------------------------------------------------------------------


def _check_n_players(n_players: int) -> None:
    if isinstance(n_players, bool) or not isinstance(n_players, (int, np.integer)) or n_players < 1:
        raise ValueError(f"n_players must be a positive integer, got {n_players!r}")


def _check_values(coalitions: Coalitions, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.shape != (len(coalitions),):
        raise ValueError(f"need one value per planned coalition ({len(coalitions)}), got shape {values.shape}")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise ValueError(f"coalition values must be finite; rows {bad[:10].tolist()} are not")
    n = coalitions.n_players
    if len(coalitions) < 2 or coalitions.masks[0].any() or not coalitions.masks[1].all():
        raise ValueError(f"a plan must start with the empty and the full coalition of its {n} players")
    return values


def _generator(rng: Seed) -> np.random.Generator:
    """A Generator from a seed (int or None) or the Generator itself."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be an int seed, None or a numpy Generator, got {rng!r}")


def _total_coalitions(n_players: int) -> int:
    return 2**n_players


def _base_rows_count(n_players: int) -> int:
    """Rows of the shared head of every plan: empty, full and (for n >= 2) the n leave-one-outs."""
    return 2 if n_players == 1 else n_players + 2


class _PlanBuilder:
    """Unique coalition rows in planning order, with the row index of each."""

    def __init__(self, n_players: int, with_leave_one_out: bool) -> None:
        self.n_players = n_players
        self.rows: list[np.ndarray] = []
        self.index: dict[bytes, int] = {}
        self.add(np.zeros(n_players, dtype=bool))
        self.add(np.ones(n_players, dtype=bool))
        if with_leave_one_out and n_players >= 2:
            for row in ~np.eye(n_players, dtype=bool):
                self.add(row)

    @staticmethod
    def key(row: np.ndarray) -> bytes:
        return np.packbits(row).tobytes()

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, row: np.ndarray) -> bool:
        return self.key(row) in self.index

    def add(self, row: np.ndarray) -> int:
        """Row index of `row`, appending it when new."""
        key = self.key(row)
        if key not in self.index:
            self.index[key] = len(self.rows)
            self.rows.append(np.array(row, dtype=bool))
        return self.index[key]

    def count_new(self, rows: list[np.ndarray]) -> int:
        """How many distinct rows of `rows` are not planned yet."""
        return len({self.key(r) for r in rows} - self.index.keys())

    def masks(self) -> np.ndarray:
        return np.array(self.rows, dtype=bool).reshape(len(self.rows), self.n_players)


def _distinct_uniform_coalitions(n_players: int, gen: np.random.Generator) -> Iterator[np.ndarray]:
    """Uniformly random coalitions without replacement (every coalition once, in random order,
    when 2^n is small enough to shuffle; otherwise an endless stream with repeats skipped)."""
    if n_players <= 20:
        weights = 1 << np.arange(n_players)
        for code in gen.permutation(_total_coalitions(n_players)):
            yield (code & weights) > 0
        return
    seen: set[bytes] = set()
    while True:
        for row in gen.random((256, n_players)) < 0.5:
            key = np.packbits(row).tobytes()
            if key not in seen:
                seen.add(key)
                yield row


def coalition_codes(masks: np.ndarray) -> np.ndarray:
    """Integer code of each coalition row: bit i set when player i is present (n <= 62)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[-1] > 62:
        raise ValueError(f"coalition codes fit at most 62 players, got {masks.shape[-1]}")
    return masks.astype(np.int64) @ (np.int64(1) << np.arange(masks.shape[-1], dtype=np.int64))


def _table_size(table: np.ndarray) -> int:
    table = np.asarray(table)
    n = round(math.log2(len(table))) if len(table) else 0
    if table.ndim != 1 or len(table) < 2 or 2**n != len(table):
        raise ValueError(f"a value table needs 2^n entries (one per coalition code), got shape {table.shape}")
    return n


def shapley_from_table(table: np.ndarray) -> np.ndarray:
    """Exact Shapley values of the game whose value of coalition code c is `table[c]`."""
    table = np.asarray(table, dtype=float)
    n = _table_size(table)
    codes = np.arange(len(table))
    sizes = np.array([c.bit_count() for c in range(len(table))])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    phi = np.empty(n)
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = np.sum(weight[sizes[without]] * (table[without | (1 << i)] - table[without]))
    return phi


def banzhaf_from_table(table: np.ndarray) -> np.ndarray:
    """Exact Banzhaf values (mean marginal contribution over all coalitions) of a value table."""
    table = np.asarray(table, dtype=float)
    n = _table_size(table)
    codes = np.arange(len(table))
    return np.array([np.mean(table[codes[(codes >> i) & 1 == 1]] - table[codes[(codes >> i) & 1 == 0]]) for i in range(n)])


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


class _SamplingEstimator(Estimator):
    """Budget rules shared by the sampling estimators: at least the fixed rows (empty, full,
    leave-one-outs), by default 16 calls per player plus the empty and full image."""

    def min_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        return min(_total_coalitions(n_players), _base_rows_count(n_players))

    def default_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        return min(_total_coalitions(n_players), SAMPLING_CALLS_PER_PLAYER * n_players + 2)


class ExactShapley(Estimator):
    """Exact Shapley values from all 2^n coalitions (n <= 14); standard errors are 0."""

    name = "exact"

    def min_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        if n_players > MAX_EXACT_PLAYERS:
            raise ValueError(
                f"exact Shapley enumerates 2^n coalitions and allows at most {MAX_EXACT_PLAYERS} players, "
                f"got {n_players}; use 'kernel' or 'permutation' instead"
            )
        return _total_coalitions(n_players)

    def default_budget(self, n_players: int) -> int:
        return self.min_budget(n_players)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        self.resolve_budget(n_players, budget)
        builder = _PlanBuilder(n_players, with_leave_one_out=True)
        weights = 1 << np.arange(n_players)
        for code in range(_total_coalitions(n_players)):
            builder.add((code & weights) > 0)
        return Coalitions(builder.masks(), self.name)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = _check_values(coalitions, values)
        n = coalitions.n_players
        if n > MAX_EXACT_PLAYERS:
            raise ValueError(f"exact Shapley allows at most {MAX_EXACT_PLAYERS} players, got {n}")
        codes = coalition_codes(coalitions.masks)
        table = np.full(_total_coalitions(n), np.nan)
        table[codes] = values
        missing = int(np.isnan(table).sum())
        if missing:
            raise ValueError(f"exact Shapley needs all {len(table)} coalitions of {n} players; {missing} are missing")
        return self._attribution(coalitions, values, shapley_from_table(table), np.zeros(n))


def _kernel_layer_mass(n_players: int, size: int) -> float:
    """Shapley-kernel weight of all coalitions of one size together, (n-1) / (s (n-s))."""
    return (n_players - 1) / (size * (n_players - size))


class KernelShap(_SamplingEstimator):
    """KernelSHAP for the Shapley value, with the efficiency constraint enforced exactly.

    Plan (shap-library style): complete coalition-size layers are enumerated in pairs: sizes 1
    and n-1 whenever the budget holds them, then 2 and n-2, 3 and n-3, ... while the budget
    holds the pair AND (the shap library's rule) paired sampling would be expected to spend at
    least that many draws there anyway (enumerating a pair as soon as it merely fits starves
    the sampled layers: at n=12, budget 16n, it doubled the L2 error). The rest of the budget is
    spent on paired draws (a coalition and its complement) from the remaining sizes, each size
    drawn in proportion to its Shapley-kernel mass and then a uniform coalition of that size.
    Draws repeat freely without costing a call: `design["draws"]` keeps the row pair of every
    draw and `design["sample_counts"]` the multiplicity of every row. At budget 2n+2 the plan
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
        gen = _generator(rng)
        builder = _PlanBuilder(n, with_leave_one_out=budget >= n + 2)
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
        design = {
            "enumerated_sizes": sorted(enumerated),
            "sampled_sizes": remaining,
            "draws": draws,
            "sample_counts": counts,
        }
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
        n: int, sizes: list[int], budget: int, builder: _PlanBuilder, gen: np.random.Generator
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
        n = coalitions.n_players
        total = values[1] - values[0]
        if n == 1:
            return self._attribution(coalitions, values, np.array([total]), np.zeros(1))
        z = coalitions.masks.astype(float)
        y = values - values[0]
        sizes = coalitions.masks.sum(axis=1)
        full_mass = sum(_kernel_layer_mass(n, s) for s in range(1, n))
        basis = np.linalg.qr(np.ones((n, 1)), mode="complete")[0][:, 1:]  # orthonormal, sum-zero

        enumerated = np.isin(sizes, coalitions.design["enumerated_sizes"]) & (sizes > 0) & (sizes < n)
        row_weight = np.array(
            [_kernel_layer_mass(n, s) / math.comb(n, s) / full_mass if e else 0.0 for s, e in zip(sizes, enumerated)]
        )
        a_fixed = (z * row_weight[:, None]).T @ z
        b_fixed = z.T @ (row_weight * y)

        draws = np.asarray(coalitions.design["draws"], dtype=int).reshape(-1, 2)
        sampled_mass = sum(_kernel_layer_mass(n, s) for s in coalitions.design["sampled_sizes"]) / full_mass
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
    return phi + (total - phi.sum()) / n


class PermutationShapley(_SamplingEstimator):
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
        _check_n_players(n_players)
        if n_players == 1:
            return 2
        return min(_total_coalitions(n_players), 3 * n_players - 2)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        gen = _generator(rng)
        builder = _PlanBuilder(n, with_leave_one_out=budget >= n + 2)
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
        design = {"orders": np.array(orders, dtype=int), "chains": np.array(chains, dtype=int)}
        return Coalitions(builder.masks(), self.name, design)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        orders, chains = coalitions.design["orders"], coalitions.design["chains"]
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


class LeaveOneOut(Estimator):
    """Leave-one-out: v(N) - v(N minus i). A first-order score, NOT the Shapley value: it misses
    every interaction (two redundant objects both score 0). n+2 calls (empty, full, the n
    leave-one-outs); the score is a fixed function of the values, so standard errors are 0."""

    name = "loo"

    def min_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        return _base_rows_count(n_players)

    def default_budget(self, n_players: int) -> int:
        return self.min_budget(n_players)

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        self.resolve_budget(n_players, budget)
        return Coalitions(_PlanBuilder(n_players, with_leave_one_out=True).masks(), self.name)

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        n = coalitions.n_players
        rows = [coalitions.index_of(~np.eye(n, dtype=bool)[i]) for i in range(n)]
        phi = values[1] - values[np.array(rows)]
        return self._attribution(coalitions, values, phi, np.zeros(n))


class MonteCarloBanzhaf(_SamplingEstimator):
    """Monte Carlo BANZHAF values (not Shapley): the mean of v(S with i) - v(S without i) over
    uniformly random S, estimated with maximum sample reuse (Wang & Jia 2023): mean v over the
    drawn coalitions containing i minus mean v over those without i.

    Coalitions are drawn uniformly without replacement (every coalition once at budget 2^n,
    which then gives the exact Banzhaf value); draws that hit the fixed rows (empty, full,
    leave-one-outs) are free. `design["draws"]` lists the drawn rows. Standard errors: Welch
    (var_in / n_in + var_out / n_out) with a finite-population correction; a player never (or
    always) drawn gets nan. Default budget: min(2^n, 16n + 2).
    """

    name = "banzhaf"

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        builder = _PlanBuilder(n, with_leave_one_out=budget >= n + 2)
        draws = []
        for row in _distinct_uniform_coalitions(n, _generator(rng)):
            if builder.count_new([row]) > budget - len(builder):
                break
            draws.append(builder.add(row))
        return Coalitions(builder.masks(), self.name, {"draws": np.array(draws, dtype=int)})

    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        values = self._values_for(coalitions, values)
        n = coalitions.n_players
        draws = np.asarray(coalitions.design["draws"], dtype=int)
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
        available = _total_coalitions(n_players) - _base_rows_count(n_players)
        if self.sampling_ratio >= 1.0:
            return available
        return min(available, int((_total_coalitions(n_players) - 1 - n_players) * self.sampling_ratio))

    def min_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        return _base_rows_count(n_players)

    def default_budget(self, n_players: int) -> int:
        _check_n_players(n_players)
        count = self._published_random_count(n_players)
        if count > 2**MAX_EXACT_PLAYERS:
            raise ValueError(
                f"the published default samples {count} coalitions for {n_players} players; pass a budget"
            )
        return _base_rows_count(n_players) + count

    def plan(self, n_players: int, budget: int | None = None, rng: Seed = 0) -> Coalitions:
        n = n_players
        budget = self.resolve_budget(n, budget)
        builder = _PlanBuilder(n, with_leave_one_out=True)
        wanted = min(self._published_random_count(n), budget - len(builder))
        if wanted > 0:
            for row in _distinct_uniform_coalitions(n, _generator(rng)):
                if row not in builder:
                    builder.add(row)
                    if len(builder) - _base_rows_count(n) == wanted:
                        break
        return Coalitions(builder.masks(), self.name, {"sampling_ratio": self.sampling_ratio})

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


ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (ExactShapley, KernelShap, PermutationShapley, LeaveOneOut, MonteCarloBanzhaf, PixelShapPublished)
}


def get_estimator(name: str, **kwargs: Any) -> Estimator:
    """The estimator registered under `name`, built with `kwargs`."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {sorted(ESTIMATORS)}")
    return ESTIMATORS[name](**kwargs)
