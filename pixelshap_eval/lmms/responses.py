"""From the model's responses to one document's coalition requests to the value v(S) of each
planned coalition: answer similarity to the full-image answer, or a parsed log-probability
(summed, or for geomean_prob the per-token mean, exponentiated).

lmms-eval hands `process_results` the responses of one document in request order (`idx`):
for the similarity value one answer per plan row (row 1, the full image, is the reference);
for the log-probability value the full-image answer first, then one loglikelihood per row;
for layer-wise tasks the same, each row's response holding one value per layer
(`layer_requests`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixelshap_eval.lmms.config import AttributionConfig
from pixelshap_eval.lmms.layer_requests import parse_layer_response
from pixelshap_eval.values import TextEmbedder, parse_loglikelihood, similarity_values


class EmbedderPool:
    """One `TextEmbedder` per model name, shared by every task of the process: loading one is
    slow and its answer cache is worth sharing. Thread-safe (process_results runs in threads)."""

    def __init__(self) -> None:
        self._embedders: dict[str | None, TextEmbedder] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> TextEmbedder:
        with self._lock:
            if name not in self._embedders:
                self._embedders[name] = TextEmbedder(name)
            return self._embedders[name]


EMBEDDERS = EmbedderPool()


def response_text(response: Any) -> str:
    """The text of one generate_until response (lmms-eval may wrap it in a list)."""
    if isinstance(response, (list, tuple)) and response and isinstance(response[0], str):
        response = response[0]
    return "" if response is None else str(response).strip()


def coalition_values(
    settings: AttributionConfig, task_name: str, results: list[Any], n_rows: int, embedders: EmbedderPool = EMBEDDERS
) -> tuple[str, np.ndarray]:
    """(the full-image answer, the value of each of the `n_rows` planned coalitions)."""
    if settings.value == "similarity":
        answers = [response_text(r) for r in results]
        _check_count(task_name, answers, n_rows)
        full_answer = answers[1]
        if not full_answer:
            return full_answer, np.zeros(n_rows)
        values = similarity_values(full_answer, answers, embedders.get(settings.embedder))
        return full_answer, np.asarray(values, dtype=float)
    full_answer, scored = response_text(results[0]), results[1:]
    _check_count(task_name, scored, n_rows)
    logprobs = np.array([parse_loglikelihood(r) for r in scored], dtype=float)
    # geomean_prob: pixelshap_hf returned the mean log-probability per token (end token included)
    return full_answer, np.exp(logprobs) if settings.value == "geomean_prob" else logprobs


@dataclass(frozen=True)
class LayerValues:
    """One document's coalition values at every read layer: `values[row, j]` is v(S_row) at
    the 1-based layer `layers[j]` of a model with `n_layers` decoder layers."""

    layers: tuple[int, ...]
    n_layers: int
    values: np.ndarray


def layer_coalition_values(task_name: str, results: list[Any], n_rows: int) -> tuple[str, LayerValues]:
    """(the full-image answer, the per-layer value of each of the `n_rows` planned coalitions)."""
    full_answer, scored = response_text(results[0]), results[1:]
    _check_count(task_name, scored, n_rows)
    rows = [parse_layer_response(task_name, r) for r in scored]
    if len({(row.layers, row.n_layers) for row in rows}) != 1:
        raise RuntimeError(f"{task_name}: the coalition responses of one document read different layers")
    return full_answer, LayerValues(layers=rows[0].layers, n_layers=rows[0].n_layers, values=np.stack([row.probs for row in rows]))


def _check_count(task_name: str, results: list[Any], expected: int) -> None:
    if len(results) != expected:
        raise RuntimeError(f"{task_name}: expected {expected} coalition responses for a document, got {len(results)}")
