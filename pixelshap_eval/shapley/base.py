"""The shapes every estimator shares: a plan of coalitions, an attribution, the estimator API.

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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import numpy as np

MAX_EXACT_PLAYERS = 14
SAMPLING_CALLS_PER_PLAYER = 16  # default budget of the sampling estimators: 16 n + 2 rows (capped at 2^n)

Seed = int | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Design:
    """What one estimator's solve needs beyond the masks; each estimator subclasses it."""


D = TypeVar("D", bound=Design)


@dataclass(frozen=True, eq=False)
class Coalitions:
    """The planned coalitions of one game.

    `masks[k, i]` is True when player i is present (visible) in coalition k. Rows are unique:
    each row is one model call. Row 0 is the empty coalition, row 1 the full one, and rows
    2..n+1 the leave-one-out coalitions (N minus player i, in player order) whenever
    `has_leave_one_out`. `design` holds what the estimator's solve needs beyond the masks,
    typed per estimator (sampling multiplicities, permutation orders, ...); None when the
    masks say it all.
    """

    masks: np.ndarray
    estimator: str
    design: Design | None = None

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

    scores: np.ndarray  # (n,) one estimate per player
    std_errors: np.ndarray  # (n,)
    n_calls: int
    estimator: str
    value_empty: float
    value_full: float
    diagnostics: dict[str, float] = field(default_factory=dict)  # estimator-specific, e.g. surrogate_r2


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
        check_n_players(n_players)
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

    def _design(self, coalitions: Coalitions, kind: type[D]) -> D:
        """The plan's design, checked to be the kind this estimator's plan makes."""
        if not isinstance(coalitions.design, kind):
            raise ValueError(f"{self.name!r} needs a plan with a {kind.__name__}, got {type(coalitions.design).__name__}")
        return coalitions.design

    def _values_for(self, coalitions: Coalitions, values: np.ndarray) -> np.ndarray:
        """The values as a float vector, after checking they belong to a plan of this estimator."""
        if coalitions.estimator != self.name:
            raise ValueError(
                f"these coalitions were planned by {coalitions.estimator!r}; solve them with that estimator, "
                f"not {self.name!r}"
            )
        return check_values(coalitions, values)

    def _attribution(
        self, coalitions: Coalitions, values: np.ndarray, phi: np.ndarray, se: np.ndarray, diagnostics: dict[str, float] | None = None
    ) -> Attribution:
        return Attribution(
            scores=np.asarray(phi, dtype=float),
            std_errors=np.asarray(se, dtype=float),
            n_calls=len(coalitions),
            estimator=self.name,
            value_empty=float(values[0]),
            value_full=float(values[1]),
            diagnostics=dict(diagnostics or {}),
        )


def check_n_players(n_players: int) -> None:
    if isinstance(n_players, bool) or not isinstance(n_players, (int, np.integer)) or n_players < 1:
        raise ValueError(f"n_players must be a positive integer, got {n_players!r}")


def check_values(coalitions: Coalitions, values: np.ndarray) -> np.ndarray:
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


def as_generator(rng: Seed) -> np.random.Generator:
    """A Generator from a seed (int or None) or the Generator itself."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be an int seed, None or a numpy Generator, got {rng!r}")


