"""The logit lens: the answer's first-token probability read at every decoder layer of an HF
vision-language model in one forward pass.

Each chosen layer's output at the last prompt position (the position that predicts the answer's
first token; prompts are left-padded, so it is the last column for every row) is put through
the model's final norm and LM head, as if the layers above it were skipped. The last layer read
this way is the model's ordinary next-token distribution. Forward hooks keep one hidden vector
per row and layer, and the model itself computes logits at the last position only, so a coalition
costs one forward whatever the number of layers. (torch is imported where it is used, so the
task settings can check `layers` without loading it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

ALL_LAYERS = "all"

LayerSpec = str | Sequence[int]


@dataclass(frozen=True)
class LayerProbs:
    """First-token probabilities by layer: `probs[i, j]` is row i's at layer `layers[j]`
    (1-based) of a model with `n_layers` decoder layers."""

    layers: tuple[int, ...]
    n_layers: int
    probs: np.ndarray


@dataclass(frozen=True)
class LensParts:
    """Where the logit lens reads and what it applies: the decoder layers (in order), the final
    norm and the LM head of one model."""

    layers: Sequence[torch.nn.Module]
    norm: torch.nn.Module
    head: torch.nn.Module

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def lens_parts(model: Any) -> LensParts:
    """The decoder layers, final norm and LM head of an HF causal or image-text-to-text model
    (LLaVA, LLaVA-NeXT, Qwen2-VL, Qwen2.5-VL and the toy model all expose them through
    `get_decoder()` and `get_output_embeddings()`)."""
    import torch

    name = type(model).__name__
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    norm = getattr(decoder, "norm", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0 or not isinstance(norm, torch.nn.Module) or not isinstance(head, torch.nn.Module):
        raise ValueError(
            f"cannot apply the logit lens to {name}: it needs a decoder with `layers` and a final `norm` "
            "(model.get_decoder()) and an LM head (model.get_output_embeddings()); layer-wise values "
            "support LLaVA and Qwen-VL style models"
        )
    return LensParts(layers=list(layers), norm=norm, head=head)


def resolve_layers(spec: LayerSpec, n_layers: int | None) -> tuple[int, ...]:
    """The 1-based layer numbers `spec` names: `"all"` (1..n_layers), one number, or a list of
    numbers (also as text, "1 8 16", which fits in a `PIXELSHAP_CONFIG` value), kept in increasing order
    without repeats; a number outside 1..n_layers is an error. `n_layers=None` (the model is
    not known yet) checks the form only and cannot resolve "all"."""
    if isinstance(spec, str):
        if spec.strip().lower() == ALL_LAYERS:
            if n_layers is None:
                raise ValueError("layers='all' can only be resolved once the model's number of layers is known")
            return tuple(range(1, n_layers + 1))
        words = spec.replace(";", " ").split()
        if not words or not all(word.isdigit() for word in words):
            raise ValueError(f"layers={spec!r} is not understood: use 'all' or layer numbers such as [1, 8, 16] (or '1 8 16')")
        spec = [int(word) for word in words]
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        spec = [int(spec)]  # one layer (`PIXELSHAP_CONFIG="layers=8"`)
    if not isinstance(spec, Sequence):
        raise ValueError(f"layers={spec!r} must be whole layer numbers (1-based) in a list, or 'all'")
    if not spec:
        raise ValueError("layers is an empty list: name at least one layer, or use 'all'")
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in spec):
        raise ValueError(f"layers={list(spec)!r} must be whole layer numbers (1-based) or 'all'")
    numbers = [int(n) for n in spec]
    outside = sorted({n for n in numbers if n < 1 or (n_layers is not None and n > n_layers)})
    if outside:
        known = "layers are numbered from 1" if n_layers is None else f"this model has decoder layers 1..{n_layers} (1-based)"
        raise ValueError(f"layers {outside} are out of range: {known}")
    return tuple(sorted(set(numbers)))


def first_token_probs(model: Any, inputs: dict[str, Any], token_ids: Sequence[int], layers: Sequence[int]) -> np.ndarray:
    """(batch, len(layers)) probabilities of `token_ids[i]` (row i's answer's first token) at
    the last position of the left-padded `inputs`, read through the logit lens after each of the
    1-based `layers`."""
    import torch

    parts = lens_parts(model)
    chosen = resolve_layers(list(layers), parts.n_layers)
    batch = int(inputs["input_ids"].shape[0])
    if len(token_ids) != batch:
        raise ValueError(f"one first-token id per row is needed: {batch} rows, {len(token_ids)} token ids")
    captured: dict[int, torch.Tensor] = {}

    def keeper(layer: int):
        def hook(module: torch.nn.Module, args: Any, output: Any) -> None:
            hidden = output[0] if isinstance(output, (tuple, list)) else output
            captured[layer] = hidden[:, -1, :]

        return hook

    handles = [parts.layers[layer - 1].register_forward_hook(keeper(layer)) for layer in chosen]
    try:
        with torch.inference_mode():
            model(**inputs, logits_to_keep=1)
            columns = []
            for layer in chosen:
                logits = parts.head(parts.norm(captured[layer][:, None, :]))[:, 0].float()
                ids = torch.as_tensor(list(token_ids), device=logits.device)
                columns.append(torch.softmax(logits, dim=-1).gather(-1, ids[:, None])[:, 0].cpu())
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(columns, dim=1).cpu().numpy().astype(float)
