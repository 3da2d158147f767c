"""The iGOS+ / iGOS++ objective, as gradients accumulated into the masks.

With S(x) the summed log-probability of the selected answer tokens and M~ the upsampled mask,
    D(M) = 1/N sum_k S(image * a_k M~ + baseline * (1 - a_k M~) + eps_k)   (deletion)
    J(M) = 1/N sum_k S(baseline * a_k M~ + image * (1 - a_k M~) + eps_k)   (insertion)
with a_k = k / N and eps_k ~ N(0, noise^2) in the model's normalised pixel space (drawn by the
score function). iGOS+ minimises
    D(M) - J(M) + l1 mean|1 - M| + l3 BTV(M) + l2 exp(-gamma i) sum (1 - M)^2,
and iGOS++ (masks M_d, M_i, product P)
    (D(P) - J(P) + D(M_d) - J(M_i)) / 2 + Reg(P),
whose gradients are the reference's grad_d and grad_i. Each integration step is one forward and
one backward, so memory holds one model graph whatever N is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pixelshap_eval.igos.blend import upsample

ScoreOfKeep = Callable[[torch.Tensor], torch.Tensor]  # per-pixel image weight (H, W) -> scalar S
BTV_SIGMA = 0.01


@dataclass(frozen=True)
class Weights:
    """The regulariser's weights: l1 (area), l2 (decaying L2, graduated non-convexity), l3 (BTV)."""

    l1: float
    l2: float
    l3: float
    gamma: float


def alphas(steps: int) -> list[float]:
    """a_k = k / N for k = 1..N."""
    return [k / steps for k in range(1, steps + 1)]


def l1_term(mask: torch.Tensor) -> torch.Tensor:
    """mean |1 - M|."""
    return (1.0 - mask).abs().mean()


def l2_term(mask: torch.Tensor, iteration: int, gamma: float) -> torch.Tensor:
    """exp(-gamma i) sum (1 - M)^2 (its weight decays over the iterations)."""
    return math.exp(-gamma * iteration) * ((1.0 - mask) ** 2).sum()


def btv(mask: torch.Tensor, image: torch.Tensor, sigma: float = BTV_SIGMA) -> torch.Tensor:
    """Bilateral total variation: 0.5 (a + b + bil_a + bil_b). a, b: mean squared vertical /
    horizontal differences of the coarse mask; bil_a, bil_b: mean over image pixels of
    exp(-d_img^2 / sigma) (d M~)^2 on the mask upsampled to the (3, H, W) normalised `image`.
    The reference mixed two edge weights (channel mean before squaring one way, after the
    exponential the other); both directions here use exp(-mean_c(d_img_c^2) / sigma)."""
    a = ((mask[1:, :] - mask[:-1, :]) ** 2).mean()
    b = ((mask[:, 1:] - mask[:, :-1]) ** 2).mean()
    up = upsample(mask, (image.shape[-2], image.shape[-1]))
    weight_v = torch.exp(-((image[:, 1:, :] - image[:, :-1, :]) ** 2).mean(0) / sigma)
    weight_h = torch.exp(-((image[:, :, 1:] - image[:, :, :-1]) ** 2).mean(0) / sigma)
    bil_a = (weight_v * (up[1:, :] - up[:-1, :]) ** 2).mean()
    bil_b = (weight_h * (up[:, 1:] - up[:, :-1]) ** 2).mean()
    return 0.5 * (a + b + bil_a + bil_b)


def regulariser(mask: torch.Tensor, image: torch.Tensor, iteration: int, weights: Weights) -> torch.Tensor:
    """l1 mean|1 - M| + l3 BTV(M) + l2 exp(-gamma i) sum (1 - M)^2."""
    return (
        weights.l1 * l1_term(mask) + weights.l3 * btv(mask, image)
        + weights.l2 * l2_term(mask, iteration, weights.gamma)
    )


def integral(score: ScoreOfKeep, mask: Callable[[], torch.Tensor], size: tuple[int, int], steps: int, kind: str, scale: float) -> float:
    """D (`kind` "deletion") or J ("insertion") of the coarse mask that `mask()` rebuilds, its
    gradient times `scale` accumulated into the leaves by one backward per step; returns its value."""
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion', got {kind!r}")
    total = 0.0
    for alpha in alphas(steps):
        weight = alpha * upsample(mask(), size)
        value = score(weight if kind == "deletion" else 1.0 - weight)
        (scale * value / steps).backward()
        total += float(value.detach()) / steps
    return total


def igos_plus(mask: torch.Tensor, score: ScoreOfKeep, image: torch.Tensor, iteration: int, steps: int, weights: Weights) -> float:
    """Accumulate the iGOS+ gradient into `mask.grad`; returns the objective's value."""
    size = (image.shape[-2], image.shape[-1])
    deletion = integral(score, lambda: mask, size, steps, "deletion", 1.0)
    insertion = integral(score, lambda: mask, size, steps, "insertion", -1.0)
    reg = regulariser(mask, image, iteration, weights)
    reg.backward()
    return deletion - insertion + float(reg.detach())


def igos_pp(
    mask_d: torch.Tensor, mask_i: torch.Tensor, score: ScoreOfKeep, image: torch.Tensor, iteration: int, steps: int,
    weights: Weights,
) -> float:
    """Accumulate the iGOS++ gradients into `mask_d.grad` and `mask_i.grad`; returns the objective's value."""
    size = (image.shape[-2], image.shape[-1])
    product = lambda: mask_d * mask_i  # noqa: E731 (rebuilt per step so each backward frees its graph)
    value = 0.5 * integral(score, product, size, steps, "deletion", 0.5)
    value -= 0.5 * integral(score, product, size, steps, "insertion", -0.5)
    value += 0.5 * integral(score, lambda: mask_d, size, steps, "deletion", 0.5)
    value -= 0.5 * integral(score, lambda: mask_i, size, steps, "insertion", -0.5)
    reg = regulariser(mask_d * mask_i, image, iteration, weights)
    reg.backward()
    return value + float(reg.detach())
