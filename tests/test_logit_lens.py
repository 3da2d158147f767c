"""The logit lens on tiny random models of two families: the last layer is the model's own
first-token probability, an intermediate layer matches an independent read of the hidden
states, and layer specifications are checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.logit_lens import lens_parts, resolve_layers
from pixelshap_eval.testing.tiny_models import build_tiny_model

QUESTIONS = ["what is the color of the circle?", "does this image show a dog?", "which shape is at the top left?"]
ANSWERS = ["red circle", "yes", "square"]


def _images(seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in QUESTIONS]


@pytest.fixture(scope="module", params=["llava", "qwen2_vl"])
def runner(request) -> HFRunner:
    model, processor = build_tiny_model(request.param, seed=3)
    return HFRunner(model, processor, batch_size=2)


def test_last_layer_is_the_ordinary_first_token_probability(runner):
    images = _images()
    lens = runner.layer_first_token_probs(images, QUESTIONS, ANSWERS, "all")
    assert lens.layers == (1, 2) and lens.n_layers == 2
    assert lens.probs.shape == (len(QUESTIONS), 2)
    ordinary = np.exp([s.token_logprobs[0] for s in runner.score(images, QUESTIONS, ANSWERS)])
    np.testing.assert_allclose(lens.probs[:, -1], ordinary, rtol=1e-5, atol=1e-7)
    assert not np.allclose(lens.probs[:, 0], lens.probs[:, 1])  # the first layer reads something else


def test_an_intermediate_layer_matches_the_hidden_states_read_directly(runner):
    images = _images(1)
    lens = runner.layer_first_token_probs(images, QUESTIONS, ANSWERS, [1])
    parts = lens_parts(runner.model)
    expected = []
    for image, question, answer in zip(images, QUESTIONS, ANSWERS):
        inputs = runner._encode([runner.prompt(question)], [image])
        with torch.inference_mode():
            hidden = runner.model(**inputs, output_hidden_states=True).hidden_states[1][:, -1]
            probs = torch.softmax(parts.head(parts.norm(hidden)).float(), dim=-1)[0]
        first = runner.tokenizer(answer, add_special_tokens=False)["input_ids"][0]
        expected.append(float(probs[first]))
    assert lens.layers == (1,)
    np.testing.assert_allclose(lens.probs[:, 0], expected, rtol=1e-5, atol=1e-7)


def test_an_empty_answer_has_probability_one(runner):
    lens = runner.layer_first_token_probs(_images()[:2], QUESTIONS[:2], ["", "yes"], "all")
    np.testing.assert_array_equal(lens.probs[0], [1.0, 1.0])
    assert np.all(lens.probs[1] < 1.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [(0, "out of range"), (2.0, "must be whole"), ([0], "out of range"), ([3], r"1\.\.2"), ("some", "not understood"), ([], "empty"), ([1.5], "whole"), ([True], "whole")],
)
def test_bad_layer_specs_are_refused(spec, message):
    with pytest.raises((ValueError, TypeError), match=message):
        resolve_layers(spec, 2)


def test_a_model_without_decoder_layers_is_refused():
    with pytest.raises(ValueError, match="cannot apply the logit lens to Linear"):
        lens_parts(torch.nn.Linear(2, 2))


@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.integers(40, 60))
def test_resolved_layers_are_sorted_unique_and_in_range(numbers, n_layers):
    layers = resolve_layers(numbers, n_layers)
    assert list(layers) == sorted(set(numbers))
    assert resolve_layers("ALL", n_layers) == tuple(range(1, n_layers + 1))
    assert resolve_layers(numbers[0], n_layers) == (numbers[0],)
