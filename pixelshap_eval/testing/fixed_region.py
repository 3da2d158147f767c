"""`pixelshap_fixed_region`: an lmms-eval model that answers from one fixed image region,
whatever the question asks: the shortcut (off-target) case of the tests and the README.

It names the most common colour of the synthetic scenes' palette among the pixels of the box
(x0, y0, x1, y1), ignoring the background; "nothing" when none is there. Masking the object in
that box changes the answer, masking the question's target does not, so every attribution puts
the value on the object at that position.

    lmms-eval --model pixelshap_fixed_region --model_args x0=0,y0=0,x1=16,y1=16,model_name=top-left --tasks pixelshap_synth ...
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from pixelshap_eval.data.synth import BACKGROUND_RGB, COLORS, DISTRACTOR_COLOR, DISTRACTOR_RGB

NOTHING = "nothing"
BACKGROUND = "background"
PALETTE: dict[str, tuple[int, int, int]] = {**COLORS, DISTRACTOR_COLOR: DISTRACTOR_RGB, "black": (0, 0, 0), BACKGROUND: BACKGROUND_RGB}


class FixedRegionModel(lmms):
    """Answers every request with the dominant colour name inside one fixed box."""

    is_simple = True

    def __init__(
        self, x0: int | str, y0: int | str, x1: int | str, y1: int | str, model_name: str = "fixed-region", batch_size: int | str = 1, **kwargs: Any
    ) -> None:
        super().__init__()
        if kwargs:
            raise ValueError(f"pixelshap_fixed_region got unknown model_args {sorted(kwargs)}; known: x0, y0, x1, y1, model_name")
        self.model_name = model_name  # lmms-eval names the run (and its results folder) after it
        self.box = (int(x0), int(y0), int(x1), int(y1))
        if not (self.box[0] < self.box[2] and self.box[1] < self.box[3]):
            raise ValueError(f"pixelshap_fixed_region: the box {self.box} must have x0 < x1 and y0 < y1")

    def generate_until(self, requests: list[Instance]) -> list[str]:
        return [region_answer(np.asarray(self._image(r).convert("RGB")), self.box) for r in requests]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError("pixelshap_fixed_region answers generate_until requests only (value: similarity)")

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("pixelshap_fixed_region answers single-turn requests only")

    def _image(self, request: Instance):
        _, _, visual, doc_id, task, split = request.args
        visuals = visual(self.task_dict[task][split][doc_id])
        return visuals[0] if isinstance(visuals, list) else visuals


def region_answer(image: np.ndarray, box: tuple[int, int, int, int]) -> str:
    """The palette colour most pixels of `box` are nearest to, the background left out."""
    x0, y0, x1, y1 = box
    pixels = image[y0:y1, x0:x1].reshape(-1, 3).astype(float)
    names = list(PALETTE)
    centres = np.array([PALETTE[n] for n in names], dtype=float)
    nearest = np.argmin(((pixels[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=len(names))
    counts[names.index(BACKGROUND)] = 0
    return names[int(counts.argmax())] if counts.any() else NOTHING
