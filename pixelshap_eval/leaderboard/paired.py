"""Paired comparisons of two score lists on the same documents.

Two runs scored on the same documents are compared per document, not by their means: the
per-document difference removes what the documents share (hard images are hard for both), so
small real gaps become visible and noise is not mistaken for a gap. The p-values come from a
seeded paired bootstrap of the mean difference, so they are reproducible and assume no
distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class PairedDifference:
    """Mean of `a - b` over shared documents, its standard error and a bootstrap p-value."""

    mean: float
    stderr: float
    n: int
    p_value: float  # two-sided, H0: the mean difference is 0; 1 for a single document (no evidence)


def _differences(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores must be two 1-D lists of the same length, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("paired scores need at least one shared document")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired scores must be finite numbers")
    return a - b


def _bootstrap_means(d: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Means of `samples` resamples (with replacement) of `d`, centred on the observed mean."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, d.size, size=(samples, d.size))
    return d[draws].mean(axis=1) - d.mean()


def _tolerance(d: np.ndarray) -> float:
    """Float slack for comparing means of `d` (sums of many floats differ in the last bits)."""
    return 1e-9 * max(1.0, float(np.abs(d).max()))


def paired_difference(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> PairedDifference:
    """`a - b` per document: mean, standard error (sd / sqrt n) and two-sided bootstrap p-value."""
    d = _differences(a, b)
    mean = float(d.mean())
    stderr = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else 0.0
    if d.size < 2:  # one document has no spread: its bootstrap would call any gap certain
        return PairedDifference(mean=mean, stderr=stderr, n=1, p_value=1.0)
    centred = _bootstrap_means(d, samples, seed)
    extreme = np.count_nonzero(np.abs(centred) >= abs(mean) - _tolerance(d))
    return PairedDifference(mean=mean, stderr=stderr, n=int(d.size), p_value=float((1 + extreme) / (1 + samples)))


def regression_p_value(
    candidate: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    margin: float,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> float:
    """One-sided paired bootstrap p-value of "candidate is worse than baseline by more than
    `margin`" (scores oriented so that higher is better). Small: a significant regression."""
    if margin < 0:
        raise ValueError(f"a regression margin must be >= 0, got {margin}")
    d = _differences(candidate, baseline)
    if d.size < 2:
        return 1.0  # a single document cannot show a regression
    centred = _bootstrap_means(d, samples, seed)
    # H0: mean(d) = -margin. Lower tail of the centred bootstrap at the observed distance from H0.
    below = np.count_nonzero(centred <= float(d.mean()) + margin + _tolerance(d))
    return float((1 + below) / (1 + samples))
