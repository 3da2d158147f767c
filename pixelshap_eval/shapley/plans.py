"""Building blocks of the plans: unique coalition rows in planning order, and random draws."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pixelshap_eval.shapley.base import SAMPLING_CALLS_PER_PLAYER, Estimator, check_n_players


def total_coalitions(n_players: int) -> int:
    return 1 << n_players


def base_rows_count(n_players: int) -> int:
    """Rows of the shared head of every plan: empty, full and (for n >= 2) the n leave-one-outs."""
    return 2 if n_players == 1 else n_players + 2


class PlanBuilder:
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


def distinct_uniform_coalitions(n_players: int, gen: np.random.Generator) -> Iterator[np.ndarray]:
    """Uniformly random coalitions without replacement (every coalition once, in random order,
    when 2^n is small enough to shuffle; otherwise an endless stream with repeats skipped)."""
    if n_players <= 20:
        weights = 1 << np.arange(n_players)
        for code in gen.permutation(total_coalitions(n_players)):
            yield (code & weights) > 0
        return
    seen: set[bytes] = set()
    while True:
        for row in gen.random((256, n_players)) < 0.5:
            key = np.packbits(row).tobytes()
            if key not in seen:
                seen.add(key)
                yield row


class SamplingEstimator(Estimator):
    """Budget rules shared by the sampling estimators: at least the fixed rows (empty, full,
    leave-one-outs), by default 16 calls per player plus the empty and full image."""

    def min_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        return min(total_coalitions(n_players), base_rows_count(n_players))

    def default_budget(self, n_players: int) -> int:
        check_n_players(n_players)
        return min(total_coalitions(n_players), SAMPLING_CALLS_PER_PLAYER * n_players + 2)
