"""Benchmark the noisy linear imputation of ROAD: seconds per 336 x 336 image.

The masks are ROAD steps of a 12 x 12 patch ranking (the Patchwise game's players, in a
seeded random order, pixels within a patch in a seeded random order), removing the most
relevant 10%, 50%, 90% and 98% of the pixels: large contiguous holes, the hard case. For each
fraction it times, side by side in one run, `pixelshap_eval.road.impute` (multigrid-preconditioned
conjugate gradients; LU below `DIRECT_BELOW` removed pixels), a SuperLU factorisation of the same
symmetric system (`direct=True`), and `spsolve` of the row-normalised system as the reference
code builds it; then the ratio and the largest difference from SuperLU (0..1 scale).

    python scripts/bench_road.py                    # a Patchwise human-set photo if found
    python scripts/bench_road.py --image photo.jpg --repeats 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from PIL import Image
from scipy.sparse.linalg import spsolve

from pixelshap_eval.road import imputation_system, impute

SIZE = 336
FRACTIONS = (0.10, 0.50, 0.90, 0.98)
DEFAULT_IMAGES = Path("/work/shared/data/patchwise_human/images")


def test_image(path: Path | None) -> np.ndarray:
    """(336, 336, 3) floats in [0, 1]: the given photo, the first human-set photo, or a pattern."""
    if path is None and DEFAULT_IMAGES.is_dir():
        path = next(iter(sorted(DEFAULT_IMAGES.glob("*.jpg"))), None)
    if path is not None:
        return np.asarray(Image.open(path).convert("RGB").resize((SIZE, SIZE)), dtype=float) / 255.0
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return np.stack([0.5 + 0.4 * np.sin(xx / 17), 0.5 + 0.4 * np.cos(yy / 23), (xx + yy) / (2 * SIZE)], axis=-1)


def patch_order(seed: int) -> np.ndarray:
    """Flat pixel indices in ROAD removal order for a random ranking of 28 x 28 patches."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    rank = rng.permutation(144)[(yy // 28) * 12 + xx // 28].ravel()
    return np.lexsort((rng.random(SIZE * SIZE), rank))


def reference_spsolve(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The reference's formulation: each row divided by its weight sum, solved by spsolve."""
    system = imputation_system(image, removed)
    scale = sp.diags(1.0 / system.matrix.diagonal())
    filled = image.copy()
    filled[system.rows, system.cols] = spsolve((scale @ system.matrix).tocsc(), scale @ system.rhs)
    return filled


def timed(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference spsolve column")
    args = parser.parse_args()
    image, order = test_image(args.image), patch_order(args.seed)
    print(f"seconds per {SIZE}x{SIZE} image (best of {args.repeats}); noise 0 so the solutions compare")
    print("| removed | road.impute | SuperLU | ratio | reference spsolve | max diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for fraction in FRACTIONS:
        removed = np.zeros(SIZE * SIZE, dtype=bool)
        removed[order[: round(fraction * SIZE * SIZE)]] = True
        removed = removed.reshape(SIZE, SIZE)
        fast, ours = timed(partial(impute, image, removed, noise=0.0), args.repeats)
        slow, exact = timed(partial(impute, image, removed, noise=0.0, direct=True), args.repeats)
        reference = "-" if args.no_reference else f"{timed(partial(reference_spsolve, image, removed), args.repeats)[0]:.2f}"
        print(f"| {fraction:.0%} | {fast:.2f} | {slow:.2f} | {slow / fast:.1f}x | {reference} | {np.abs(ours - exact).max():.1e} |")


if __name__ == "__main__":
    main()
