"""How coalition values become Shapley estimates.

Every estimator is split in two pure steps, because lmms-eval builds every request of a task
before the model runs:

- `plan(n_players, budget, rng) -> Coalitions`: the coalitions to ask about, fixed up front
  (a pure function of n, budget and seed);
- `solve(coalitions, values) -> Attribution`: whatever values came back -> estimates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


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
    def plan(self, n_players: int, budget: int | None = None, rng: int | np.random.Generator | None = 0) -> Coalitions:
        """Coalitions to evaluate, at most `budget` of them (None: the estimator's default)."""

    @abstractmethod
    def solve(self, coalitions: Coalitions, values: np.ndarray) -> Attribution:
        """Estimates from the values of `coalitions.masks`, row by row."""
