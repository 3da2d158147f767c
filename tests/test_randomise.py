"""Weight randomisation (the model-parameter randomisation test) for any HF model."""

from __future__ import annotations

import pytest
import torch

from pixelshap_eval.lmms.randomise import randomise_weights
from pixelshap_eval.testing.tiny_models import build_tiny_model


def weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture()
def model():
    return build_tiny_model("llava", seed=0)[0]


def test_full_randomisation_changes_every_weight_matrix_and_is_seeded(model):
    before = weights(model)
    assert randomise_weights(model, "full", seed=1) > 0
    after = weights(model)
    matrices = [name for name, w in before.items() if w.ndim == 2]
    assert all(not torch.equal(before[n], after[n]) for n in matrices)
    again = build_tiny_model("llava", seed=0)[0]
    randomise_weights(again, "full", seed=1)
    assert all(torch.equal(after[n], w) for n, w in weights(again).items())


def test_cascade_changes_the_top_blocks_and_head_only(model):
    before = weights(model)
    randomise_weights(model, "cascade:1", seed=1)
    changed = {n for n, w in weights(model).items() if not torch.equal(before[n], w)}
    layers = sorted({n.split(".layers.")[1].split(".")[0] for n in before if "language_model.layers." in n}, key=int)
    assert any(f"language_model.layers.{layers[-1]}." in n for n in changed)
    assert not any(f"language_model.layers.{layers[0]}." in n for n in changed) or len(layers) == 1
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n in changed)


def test_bad_modes_are_named(model):
    with pytest.raises(ValueError, match="cascade:K"):
        randomise_weights(model, "half", seed=0)
    with pytest.raises(ValueError, match="only"):
        randomise_weights(model, "cascade:999", seed=0)
