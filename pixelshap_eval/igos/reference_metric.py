"""The reference's deletion / insertion metric of an iGOS map (`igos_deletion_auc`, `igos_insertion_auc`).

Cells of the coarse mask are ranked most salient first (ascending M); every `step` = max(1,
cells // 50) cells, the first cells are set to 0 in a binary mask, upsampled bilinearly, and
the image with those cells deleted (deletion: image * m + baseline * (1 - m)) or inserted
(insertion: baseline * m + image * (1 - m)) is scored without noise. The score is the mean
probability of the selected tokens, normalised as (s - s_baseline) / (s_image - s_baseline),
and the AUC is the right Riemann sum (1 / cells) sum_k width_k s_k.

Fixed: the reference's last step added the constant width (4 of 1024 cells) instead of
width * s_k, biasing deletion AUCs up by ~0.004. Note the circularity: this metric uses the
blur, tokens and cell grid the mask was optimised for; the project's own curves over the
task's players are the comparison across methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from pixelshap_eval.igos.blend import upsample

ProbOfKeep = Callable[[torch.Tensor], float]  # per-pixel image weight (H, W) -> mean token probability


@dataclass(frozen=True)
class ReferenceCurves:
    """The normalised deletion / insertion curves (one point per step) and their AUCs."""

    deletion: tuple[float, ...]
    insertion: tuple[float, ...]
    widths: tuple[int, ...]
    deletion_auc: float
    insertion_auc: float


def reference_curves(mask: np.ndarray, size: tuple[int, int], prob: ProbOfKeep) -> ReferenceCurves:
    """The reference metric of the coarse `mask` on an image of `size` = (H, W)."""
    cells = np.asarray(mask, dtype=np.float32)
    count = cells.size
    order = np.argsort(cells.ravel(), kind="stable")
    step = max(1, count // 50)
    with torch.no_grad():
        full, empty = prob(torch.ones(size)), prob(torch.zeros(size))
        if abs(full - empty) < 1e-12:
            raise ValueError("the image and its baseline give the same token probability: the curves cannot be normalised")
        deletion, insertion, widths = [], [], []
        for start in range(0, count, step):
            binary = np.ones(count, dtype=np.float32)
            binary[order[: start + step]] = 0.0
            keep = upsample(torch.from_numpy(binary.reshape(cells.shape)), size)
            deletion.append((prob(keep) - empty) / (full - empty))
            insertion.append((prob(1.0 - keep) - empty) / (full - empty))
            widths.append(min(step, count - start))
    weights = np.asarray(widths, dtype=float) / count
    return ReferenceCurves(
        deletion=tuple(deletion), insertion=tuple(insertion), widths=tuple(widths),
        deletion_auc=float(weights @ np.asarray(deletion)), insertion_auc=float(weights @ np.asarray(insertion)),
    )
