"""One iGOS+/iGOS++ explanation end to end, in the style of `pixelshap_eval.explain`:

    runner = HFRunner.from_pretrained(path)
    result = explain_igos(runner, image, "What is left of the circle?", regions, seed=0)
    result.scores      # mean saliency per region (player)
    result.saliency    # 1 - upsampled mask on the image, high = salient

Greedy answer -> visually relevant tokens (image vs baseline) -> mask optimisation (score S =
summed log-probability of those tokens, teacher-forced) -> pooled scores and the reference
metric. A document with no relevant token raises `DocumentSkipped` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.igos.baseline import make_baseline
from pixelshap_eval.igos.blend import blend, image_tensor
from pixelshap_eval.igos.config import IgosConfig
from pixelshap_eval.igos.model import AnswerForcing, ForcedInputs
from pixelshap_eval.igos.optimise import optimise_mask
from pixelshap_eval.igos.pooling import pool_scores, saliency_map
from pixelshap_eval.igos.reference_metric import ReferenceCurves, reference_curves
from pixelshap_eval.igos.tokens import TokenSelection, select_visual_tokens
from pixelshap_eval.images import to_rgb
from pixelshap_eval.players import Region


@dataclass(frozen=True, eq=False)
class IgosExplanation:
    """An iGOS map with what it was computed on: the answer, its selected tokens, the coarse
    mask(s) (1 = keep, low = salient), the saliency on the image, per-player scores (None
    without players), the objective per iteration and the reference metric."""

    answer: str
    tokens: TokenSelection
    mask: np.ndarray
    masks: tuple[np.ndarray, ...]
    saliency: np.ndarray
    scores: np.ndarray | None
    losses: tuple[float, ...]
    reference: ReferenceCurves | None
    model_passes: int
    seconds: float


def explain_igos(
    runner: HFRunner,
    image: Image.Image,
    question: str,
    regions: Sequence[Region] | None = None,
    config: IgosConfig = IgosConfig(),
    seed: int = 0,
    reference_metric: bool = True,
) -> IgosExplanation:
    """Explain `runner`'s greedy answer to `question` on `image` with iGOS+ (or iGOS++ by
    `config.variant`); the noise and any noise baseline are drawn from `seed`."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    started = time.perf_counter()
    rgb_image = to_rgb(image)
    forcing = AnswerForcing(runner)
    passes_before = forcing.passes
    generator = torch.Generator().manual_seed(seed)
    answer_ids = forcing.greedy_answer(rgb_image, question, config.max_new_tokens)
    forced = forcing.forced_inputs(rgb_image, question, answer_ids)
    picture = image_tensor(rgb_image, forcing.device)
    baseline = image_tensor(make_baseline(rgb_image, config.baseline, seed), forcing.device)
    with torch.no_grad():
        logp_image = forcing.token_logprobs(forced, picture).cpu().numpy()
        logp_baseline = forcing.token_logprobs(forced, baseline).cpu().numpy()
    tokens = select_visual_tokens(
        logp_image, logp_baseline, forcing.token_strings(answer_ids), config.threshold, config.single_token_ratio,
        drop_stop_words=config.stop_words,
    )
    positions = torch.tensor(tokens.positions, device=forcing.device)

    def score(keep: torch.Tensor) -> torch.Tensor:
        noise = _noise(forced, config.noise_std, generator, forcing.device)
        return forcing.token_logprobs(forced, blend(picture, baseline, keep), noise)[positions].sum()

    normalised = _normalised(picture, forcing)
    optimised = optimise_mask(score, normalised, config)
    saliency = saliency_map(optimised.mask, rgb_image.size)
    scores = pool_scores(saliency, regions) if regions is not None else None
    curves = None
    if reference_metric:
        def prob(keep: torch.Tensor) -> float:
            logp = forcing.token_logprobs(forced, blend(picture, baseline, keep))[positions]
            return float(logp.exp().mean())

        curves = reference_curves(optimised.mask, (rgb_image.height, rgb_image.width), prob)
    return IgosExplanation(
        answer=forcing.tokenizer.decode(list(answer_ids), skip_special_tokens=True).strip(),
        tokens=tokens, mask=optimised.mask, masks=optimised.masks, saliency=saliency, scores=scores,
        losses=optimised.losses, reference=curves, model_passes=forcing.passes - passes_before,
        seconds=time.perf_counter() - started,
    )


def _noise(forced: ForcedInputs, std: float, generator: torch.Generator, device: torch.device) -> torch.Tensor | None:
    """Fresh N(0, std^2) noise of the pixel values' shape (None when std is 0), from the document's generator."""
    if std == 0:
        return None
    return (std * torch.randn(forced.pixel_shape, generator=generator)).to(device)


def _normalised(picture: torch.Tensor, forcing: AnswerForcing) -> torch.Tensor:
    """The (3, H, W) image in the model's normalised units (for the BTV edge weights)."""
    mean = torch.tensor(forcing.pixels.mean, device=picture.device)[:, None, None]
    std = torch.tensor(forcing.pixels.std, device=picture.device)[:, None, None]
    return (picture - mean) / std
