"""Exact values of a game given as a table over all 2^n coalitions (coalition codes)."""

from __future__ import annotations

import math

import numpy as np


def coalition_codes(masks: np.ndarray) -> np.ndarray:
    """Integer code of each coalition row: bit i set when player i is present (n <= 62)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.shape[-1] > 62:
        raise ValueError(f"coalition codes fit at most 62 players, got {masks.shape[-1]}")
    codes: np.ndarray = masks.astype(np.int64) @ (np.int64(1) << np.arange(masks.shape[-1], dtype=np.int64))
    return codes


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
