"""`similarity_value` / `logprob_value` bind a real (tiny) HF model to an image and question,
and `explain()` turns them into Shapley values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pixelshap_eval.explain import explain
from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.testing.tiny_models import build_tiny_model
from pixelshap_eval.values import answer_logprob, logprob_value, similarity_value, visually_relevant_tokens

QUESTION = "What is the color of the object?"


@pytest.fixture(scope="module")
def runner() -> HFRunner:
    return HFRunner(*build_tiny_model("llava"), batch_size=8)


@pytest.fixture(scope="module")
def scene():
    pixels = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    regions = regions_from_boxes([(0, 0, 32, 48), (32, 0, 32, 24), (32, 24, 32, 24)], image.size)
    return image, regions


def test_logprob_value_is_the_runners_loglikelihood_of_the_answer(runner, scene):
    image, regions = scene
    ask = logprob_value(runner, image, QUESTION, answer="red dog")
    images = [image, image.filter(ImageFilter.GaussianBlur(4))]
    np.testing.assert_allclose(ask(images), runner.loglikelihood(images, [QUESTION] * 2, ["red dog"] * 2))


def test_relevant_only_sums_the_tokens_the_blur_changes(runner, scene):
    image, _ = scene
    answer = "a big red dog"
    ask = logprob_value(runner, image, QUESTION, answer=answer, relevant_only=True, threshold=0.0)
    full, blurred = runner.score([image, image.filter(ImageFilter.GaussianBlur(10.0))], [QUESTION] * 2, [answer] * 2)
    keep = visually_relevant_tokens(full.token_logprobs, blurred.token_logprobs, 0.0)
    assert ask([image])[0] == pytest.approx(answer_logprob(full.token_logprobs, keep))


def test_model_answer_is_the_default_reference_and_explain_is_efficient(runner, scene):
    image, regions = scene
    ask = logprob_value(runner, image, QUESTION)
    result = explain(image, regions, ask, estimator="exact", progress=False)
    attribution = result.attribution
    assert attribution.value_full == pytest.approx(ask([image])[0])
    assert attribution.scores.sum() == pytest.approx(attribution.value_full - attribution.value_empty)


class CountingEmbedder:
    """Embeds words by letter counts: deterministic, and records what it was asked."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen.extend(texts)
        rows = np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float) + 1e-3
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_similarity_value_compares_with_the_full_image_answer(runner, scene):
    image, _ = scene
    embedder = CountingEmbedder()
    ask = similarity_value(runner, image, QUESTION, embedder=embedder)
    values = ask([image, Image.new("RGB", image.size)])
    assert values[0] == 1.0  # the full image gives the reference answer itself
    assert -1.0 <= values[1] <= 1.0
