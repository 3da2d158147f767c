"""One attribution end to end, outside lmms-eval: plan -> masked images -> ask -> solve.

`ask` is any batched scorer of images (a model's answer similarity, an answer's
log-probability, ...), so `explain` works with HF models, API models or a toy function:

    runner = HFRunner.from_pretrained(path)
    ask = lambda images: runner.loglikelihood(images, [question] * len(images), [answer] * len(images))
    explanation = explain(image, regions, ask, estimator="kernel", budget=64)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from pixelshap_eval.masking import Masker
from pixelshap_eval.players import Region
from pixelshap_eval.shapley import Attribution, Coalitions, Estimator, Seed, get_estimator

Ask = Callable[[list[Image.Image]], Sequence[float]]
DEFAULT_MASKER = Masker()  # bboa, black


@dataclass(frozen=True, eq=False)
class Explanation:
    """An attribution with everything needed to audit it: the planned coalitions, the value
    each one got (row by row) and the players."""

    attribution: Attribution
    coalitions: Coalitions
    coalition_values: np.ndarray
    regions: tuple[Region, ...]


def explain(
    image: Image.Image,
    regions: Sequence[Region],
    ask: Ask,
    estimator: str | Estimator = "kernel",
    budget: int | None = None,
    seed: Seed = 0,
    masker: Masker = DEFAULT_MASKER,
    batch_size: int = 32,
    progress: bool = True,
) -> Explanation:
    """Attribute `ask`'s value on `image` to `regions` (the players).

    Plans the coalitions with `estimator` (a name from `shapley.ESTIMATORS` or an instance),
    masks the image for each coalition with `masker` (how hidden regions are hidden: strategy,
    fill and their parameters; True = region visible), calls `ask` on batches of at most `batch_size` masked images (a
    tqdm bar unless `progress` is False), and solves. Masked images are built batch by batch,
    so memory stays at one batch whatever the budget.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    regions = tuple(regions)
    if not regions:
        raise ValueError("explain needs at least one region (player); got none")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    solver = get_estimator(estimator) if isinstance(estimator, str) else estimator
    if not isinstance(solver, Estimator):
        raise TypeError(f"estimator must be a name or an Estimator, got {type(estimator).__name__}")

    coalitions = solver.plan(len(regions), budget, seed)
    values = np.empty(len(coalitions))
    with tqdm(total=len(coalitions), desc="coalitions", unit="call", disable=not progress) as bar:
        for start in range(0, len(coalitions), batch_size):
            rows = coalitions.masks[start : start + batch_size]
            images = [masker.mask(image, regions, row) for row in rows]
            values[start : start + len(rows)] = _batch_values(ask(images), len(rows), start)
            bar.update(len(rows))
    attribution = solver.solve(coalitions, values)
    return Explanation(attribution=attribution, coalitions=coalitions, coalition_values=values, regions=regions)


def _batch_values(answer: Sequence[float], expected: int, start: int) -> np.ndarray:
    """`ask`'s answer for one batch as floats, checked for length and finiteness."""
    try:
        values = np.asarray(answer, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"ask must return one number per image; got {answer!r}") from error
    if values.ndim != 1 or len(values) != expected:
        raise ValueError(
            f"ask must return a flat sequence of one number per image; got shape {values.shape} for a batch of "
            f"{expected} images (rows {start}..{start + expected - 1})"
        )
    if not np.isfinite(values).all():
        raise ValueError(f"ask returned a non-finite value for the batch starting at row {start}: {values.tolist()}")
    return values
