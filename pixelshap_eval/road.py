"""Noisy linear imputation (ROAD, Rong et al. 2022): removed pixels filled from their neighbours.

Each removed pixel p is the weighted mean of its 8 neighbours (orthogonal weight 1/6, diagonal
1/12; at the border the weights of the neighbours that exist are renormalised). Multiplying
row p by its weight sum W_p gives, over the removed pixels u,

    W_p u_p - sum_{q removed} w_pq u_q = sum_{q kept} w_pq x_q,

a symmetric system (w_pq = w_qp) that is a graph Laplacian plus the non-negative weights of
kept neighbours on the diagonal: positive definite as soon as one pixel is kept. It is solved
jointly for all removed pixels and all 3 channels (one multi-right-hand-side solve), then
Gaussian noise (std `noise` on the [0, 1] scale, seeded) is added to the removed pixels only.

Solver: conjugate gradients preconditioned by one V-cycle of smoothed-aggregation multigrid
whose aggregates are 2x2 blocks of pixels (coarsened geometrically, level after level, down to a
few hundred unknowns solved directly), warm-started from the kept pixels' mean colour. It stops
when every channel's residual is below `tol` times its right-hand side (default 1e-6), which keeps
the error far under one grey level. Below `DIRECT_BELOW` removed pixels a sparse LU
factorisation is as fast and is used instead; `direct=True` forces it (tests, benchmark). When every pixel is removed the system is singular (any constant solves it): the
image's mean colour is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

ORTHOGONAL_WEIGHT = 1.0 / 6.0
DIAGONAL_WEIGHT = 1.0 / 12.0
_OFFSETS = tuple(
    (dy, dx, ORTHOGONAL_WEIGHT if dy == 0 or dx == 0 else DIAGONAL_WEIGHT)
    for dy in (-1, 0, 1)
    for dx in (-1, 0, 1)
    if (dy, dx) != (0, 0)
)
_COARSEST = 400  # unknowns at or below which a multigrid level is solved directly
DIRECT_BELOW = 30_000  # fewer removed pixels than this: a sparse LU is as fast (scripts/bench_road.py)
_MAX_ITERATIONS = 500
CoarseSolve = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImputationSystem:
    """The linear system of one mask: `matrix @ u = rhs` over the removed pixels `rows, cols`."""

    matrix: sp.csr_matrix
    rhs: np.ndarray  # (m, 3)
    rows: np.ndarray
    cols: np.ndarray


def imputation_system(image: np.ndarray, removed: np.ndarray) -> ImputationSystem:
    """The symmetric system of the removed pixels of `image` ((H, W, 3) floats in [0, 1])."""
    height, width = removed.shape
    rows, cols = np.nonzero(removed)
    m = rows.size
    index = np.full((height, width), -1, dtype=np.int64)
    index[rows, cols] = np.arange(m)
    diagonal = np.zeros(m)
    rhs = np.zeros((m, image.shape[2]))
    pair_rows, pair_cols, pair_weights = [], [], []
    for dy, dx, weight in _OFFSETS:
        y, x = rows + dy, cols + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        source, y, x = np.flatnonzero(inside), y[inside], x[inside]
        diagonal[source] += weight
        neighbour = index[y, x]
        unknown = neighbour >= 0
        pair_rows.append(source[unknown])
        pair_cols.append(neighbour[unknown])
        pair_weights.append(np.full(int(unknown.sum()), -weight))
        known = ~unknown
        np.add.at(rhs, source[known], weight * image[y[known], x[known]])
    matrix = sp.coo_matrix(
        (np.concatenate([diagonal, *pair_weights]), (np.concatenate([np.arange(m), *pair_rows]), np.concatenate([np.arange(m), *pair_cols]))),
        shape=(m, m),
    ).tocsr()
    return ImputationSystem(matrix, rhs, rows, cols)


def impute(
    image: np.ndarray, removed: np.ndarray, noise: float = 0.01, seed: int = 0, tol: float = 1e-6, direct: bool = False
) -> np.ndarray:
    """`image` with its `removed` pixels filled by noisy linear imputation.

    `image`: (H, W, 3) uint8 (0..255) or floats in [0, 1]; `removed`: (H, W) bool. Returns the
    same dtype (uint8 rounded, floats clipped to [0, 1]); kept pixels are returned unchanged.
    `noise`: std of the Gaussian noise on the [0, 1] scale (0 for none); `tol`: the solver's
    relative residual; `direct`: always solve with a sparse LU factorisation (slow when large).
    """
    pixels, mask = _checked(image, removed, noise, tol)
    scale = 255.0 if pixels.dtype == np.uint8 else 1.0
    values = pixels.astype(np.float64) / scale
    filled: np.ndarray = values.copy()
    if mask.all():
        filled[:] = values.reshape(-1, values.shape[2]).mean(axis=0)
        rows, cols = np.nonzero(mask)
    elif mask.any():
        system = imputation_system(values, mask)
        if direct or system.rows.size < DIRECT_BELOW:
            solution = _direct_solve(system)
        else:
            solution = _multigrid_cg(system, tol, values[~mask].mean(axis=0))
        rows, cols = system.rows, system.cols
        filled[rows, cols] = solution
    else:
        unchanged: np.ndarray = pixels.copy()
        return unchanged
    if noise > 0:
        filled[rows, cols] += noise * np.random.default_rng(seed).standard_normal((rows.size, values.shape[2]))
    filled = np.clip(filled, 0.0, 1.0)
    if pixels.dtype == np.uint8:
        result: np.ndarray = np.rint(filled * 255.0).astype(np.uint8)
        result[~mask] = pixels[~mask]
        return result
    filled[~mask] = pixels[~mask]
    return filled.astype(pixels.dtype, copy=False)


def _checked(image: np.ndarray, removed: np.ndarray, noise: float, tol: float) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(image)
    mask = np.asarray(removed)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {pixels.shape}")
    if mask.shape != pixels.shape[:2] or mask.dtype != bool:
        raise ValueError(f"removed must be a bool mask of shape {pixels.shape[:2]}, got {mask.dtype} {mask.shape}")
    if pixels.dtype != np.uint8:
        if not np.issubdtype(pixels.dtype, np.floating):
            raise ValueError(f"image must be uint8 (0..255) or floats in [0, 1], got dtype {pixels.dtype}")
        if pixels.size and (not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1):
            raise ValueError("a float image must hold finite values in [0, 1]; divide uint8 pixels by 255")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite std >= 0, got {noise!r}")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be a relative residual in (0, 1), got {tol!r}")
    return pixels, mask


def _direct_solve(system: ImputationSystem) -> np.ndarray:
    return np.asarray(splu(system.matrix.tocsc()).solve(system.rhs))


@dataclass(frozen=True)
class _Level:
    matrix: sp.csr_matrix
    inverse_diagonal: np.ndarray
    smoothing_weight: float
    prolongation: sp.csr_matrix | None  # to this level from the next coarser one


def _hierarchy(system: ImputationSystem) -> tuple[list[_Level], CoarseSolve]:
    """Smoothed-aggregation levels (2x2 pixel blocks per aggregate) and the coarsest solve."""
    matrix = system.matrix
    ys, xs = system.rows.astype(np.int64), system.cols.astype(np.int64)
    levels: list[_Level] = []
    while True:
        diagonal = matrix.diagonal()
        inverse = 1.0 / diagonal
        # Gershgorin bound of the spectral radius of D^-1 A: the Jacobi weights follow it
        radius = float(np.max(abs(matrix).sum(axis=1).A1 * inverse))
        weight = 4.0 / (3.0 * radius)
        if matrix.shape[0] <= _COARSEST:
            levels.append(_Level(matrix, inverse, weight, None))
            return levels, _coarse_solve(matrix)
        stride = int(xs.max()) // 2 + 1
        unique, aggregate = np.unique((ys // 2) * stride + xs // 2, return_inverse=True)
        tentative = sp.csr_matrix((np.ones(aggregate.size), (np.arange(aggregate.size), aggregate)), shape=(aggregate.size, unique.size))
        prolongation = (tentative - weight * sp.diags(inverse) @ (matrix @ tentative)).tocsr()
        coarse = (prolongation.T @ matrix @ prolongation).tocsr()
        if coarse.diagonal().min() <= 1e-12 * float(diagonal.max()):  # smoothing zeroed a column
            prolongation = tentative
            coarse = (tentative.T @ matrix @ tentative).tocsr()
        levels.append(_Level(matrix, inverse, weight, prolongation))
        matrix = coarse
        ys, xs = unique // stride, unique % stride


def _coarse_solve(matrix: sp.csr_matrix) -> CoarseSolve:
    """LU of the coarsest matrix; its pseudo-inverse where smoothing left it singular (with it
    the V-cycle stays a symmetric positive-definite preconditioner)."""
    try:
        lu = splu(matrix.tocsc())
    except RuntimeError:  # "Factor is exactly singular"
        inverse = np.linalg.pinv(matrix.toarray(), hermitian=True)
        return lambda rhs: np.asarray(inverse @ rhs)
    return lambda rhs: np.asarray(lu.solve(rhs))


def _v_cycle(levels: list[_Level], coarse_solve: CoarseSolve, rhs: np.ndarray, depth: int = 0, sweeps: int = 1) -> np.ndarray:
    """One symmetric V-cycle (damped Jacobi before and after), an SPD preconditioner."""
    level = levels[depth]
    if level.prolongation is None:
        return coarse_solve(rhs)
    step = level.smoothing_weight * level.inverse_diagonal[:, None]
    x: np.ndarray = step * rhs
    for _ in range(sweeps - 1):
        x += step * (rhs - level.matrix @ x)
    x += level.prolongation @ _v_cycle(levels, coarse_solve, level.prolongation.T @ (rhs - level.matrix @ x), depth + 1, sweeps)
    for _ in range(sweeps):
        x += step * (rhs - level.matrix @ x)
    return x


def _multigrid_cg(system: ImputationSystem, tol: float, start: np.ndarray) -> np.ndarray:
    """Preconditioned conjugate gradients on all channels at once (each its own CG), from
    `start` (one colour for every removed pixel)."""
    matrix, rhs = system.matrix, system.rhs
    levels, coarse_solve = _hierarchy(system)
    x = np.tile(start, (rhs.shape[0], 1))
    residual = rhs - matrix @ x
    limits = tol * np.maximum(np.linalg.norm(rhs, axis=0), 1e-300)
    z = _v_cycle(levels, coarse_solve, residual)
    direction = z.copy()
    rz = np.einsum("ij,ij->j", residual, z)
    for _ in range(_MAX_ITERATIONS):
        if np.all(np.linalg.norm(residual, axis=0) <= limits):
            return x
        product = matrix @ direction
        curvature = np.einsum("ij,ij->j", direction, product)
        alpha = np.divide(rz, curvature, out=np.zeros_like(rz), where=curvature > 0)
        x += alpha * direction
        residual -= alpha * product
        z = _v_cycle(levels, coarse_solve, residual)
        rz_new = np.einsum("ij,ij->j", residual, z)
        beta = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
        direction = z + beta * direction
        rz = rz_new
    raise RuntimeError(f"noisy linear imputation did not converge to tol={tol} in {_MAX_ITERATIONS} iterations")
