"""The mask optimisation loop: Nesterov updates of the iGOS+/iGOS++ objective, clamped to [0, 1].

The reference's NAG: e_i = i / (i + momentum); theta_i = M - lr * grad;
M <- theta_i + e_i (theta_i - theta_{i-1}), clamp to [0, 1]; masks start at 1 (nothing deleted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pixelshap_eval.igos.config import IgosConfig
from pixelshap_eval.igos.objective import ScoreOfKeep, Weights, igos_plus, igos_pp


@dataclass(frozen=True, eq=False)
class OptimisedMask:
    """The optimised coarse masks (one for iGOS+, deletion and insertion for iGOS++), the map they
    give (M, or M_d * M_i; low = salient) and the objective's value at each iteration."""

    mask: np.ndarray
    masks: tuple[np.ndarray, ...]
    losses: tuple[float, ...]


def nesterov_step(mask: torch.Tensor, previous: torch.Tensor, iteration: int, lr: float, momentum: float) -> torch.Tensor:
    """One NAG update of `mask` in place from its accumulated `.grad`; returns theta_i (the next `previous`)."""
    assert mask.grad is not None
    with torch.no_grad():
        theta = mask - lr * mask.grad
        momentum_weight = iteration / (iteration + momentum) if iteration + momentum > 0 else 0.0
        mask.copy_((theta + momentum_weight * (theta - previous)).clamp(0.0, 1.0))
    mask.grad = None
    return theta


def optimise_mask(score: ScoreOfKeep, image: torch.Tensor, config: IgosConfig) -> OptimisedMask:
    """Optimise the mask(s) for `score` (a keep weight over `image`'s pixels -> S) on the
    normalised (3, H, W) `image` (for the BTV edge weights)."""
    weights = Weights(l1=config.l1, l2=config.l2, l3=config.l3, gamma=config.gamma)
    shape = (config.mask_size, config.mask_size)
    count = 1 if config.variant == "igos+" else 2
    masks = [torch.ones(shape, dtype=torch.float32, device=image.device, requires_grad=True) for _ in range(count)]
    previous = [torch.zeros(shape, dtype=torch.float32, device=image.device) for _ in range(count)]
    losses = []
    for iteration in range(config.iterations):
        if config.variant == "igos+":
            loss = igos_plus(masks[0], score, image, iteration, config.ig_steps, weights)
        else:
            loss = igos_pp(masks[0], masks[1], score, image, iteration, config.ig_steps, weights)
        losses.append(loss)
        previous = [nesterov_step(m, p, iteration, config.lr, config.momentum) for m, p in zip(masks, previous)]
    arrays = tuple(m.detach().cpu().numpy().astype(np.float64) for m in masks)
    final = arrays[0] if count == 1 else arrays[0] * arrays[1]
    return OptimisedMask(mask=final, masks=arrays, losses=tuple(losses))
