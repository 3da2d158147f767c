"""How a vector of per-layer values travels through lmms-eval, whose loglikelihood request
returns one number.

A layer-wise coalition request is an ordinary `loglikelihood` request (so it runs after the
full-image `generate_until` answer exists, as for the log-probability value) whose continuation
is a `LayerwiseTarget`: a callable that reads the answer to score at model time, like the plain
continuation, and also says which layers to read. `pixelshap_hf` recognises it and answers
with one JSON text (`encode_layer_response`):

    {"pixelshap_layers": [1, 2, 3], "n_layers": 3, "first_token_probs": [0.01, 0.2, 0.9]}

lmms-eval hands results to `process_results` as text, so `parse_layer_response` reads that
text back. Any other model would read the target as a plain answer and return one
log-likelihood, so layer-wise tasks refuse other models before any request runs
(`check_layerwise_model`), and a response that is not a layer vector is one clear error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelshap_eval.lmms.routing import coalition_continuation
from pixelshap_eval.logit_lens import ALL_LAYERS, LayerProbs

LAYERS_KEY = "pixelshap_layers"
LAYERWISE_MODEL = "pixelshap_hf"


@dataclass(frozen=True)
class LayerwiseTarget:
    """The continuation of a layer-wise request: called on the request's document it gives the
    answer whose first token is read (the task's reference answer); `layers` is the task's
    `layers` setting (`"all"` or 1-based numbers), resolved by the model."""

    task_name: str
    layers: str | tuple[int, ...] = ALL_LAYERS

    def __call__(self, doc: dict[str, Any]) -> str:
        return coalition_continuation(self.task_name, doc)


@dataclass(frozen=True)
class LayerResponse:
    """One coalition's per-layer values as the model returned them."""

    layers: tuple[int, ...]
    n_layers: int
    probs: np.ndarray


def encode_layer_response(probs: LayerProbs, row: int) -> str:
    """Row `row` of `probs` as the JSON text a layer-wise request is answered with."""
    return json.dumps({LAYERS_KEY: list(probs.layers), "n_layers": probs.n_layers, "first_token_probs": probs.probs[row].tolist()})


def parse_layer_response(task_name: str, response: Any) -> LayerResponse:
    """The per-layer values of one layer-wise response; anything else (the single
    log-likelihood a model that ignored the layer request returns) is one clear error."""
    data: Any = None
    if isinstance(response, str):
        try:
            data = json.loads(response)
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, Mapping) or not {LAYERS_KEY, "n_layers", "first_token_probs"} <= set(data):
        raise RuntimeError(
            f"{task_name} needs one value per layer for every coalition, which only --model {LAYERWISE_MODEL} returns; "
            f"the model answered {str(response)[:80]!r}. Run this task with --model {LAYERWISE_MODEL}."
        )
    layers = tuple(int(n) for n in data[LAYERS_KEY])
    probs = np.asarray(data["first_token_probs"], dtype=float)
    if probs.shape != (len(layers),):
        raise RuntimeError(f"{task_name}: a layer response holds {probs.size} values for {len(layers)} layers")
    return LayerResponse(layers=layers, n_layers=int(data["n_layers"]), probs=probs)


def check_layerwise_model(task_name: str, model: str | None) -> None:
    """ValueError unless `model` (the run's --model; None when unknown) is the one model that
    answers layer-wise requests."""
    if model is not None and model != LAYERWISE_MODEL:
        raise ValueError(
            f"{task_name} reads the model's hidden states at every layer, which only --model {LAYERWISE_MODEL} "
            f"returns; this run uses --model {model}. Run it with --model {LAYERWISE_MODEL} "
            "--model_args pretrained=<model folder>"
        )
