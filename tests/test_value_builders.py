"""`similarity_ask` / `logprob_ask` bind a real (tiny) HF model to an image and question,
and `explain()` turns them into Shapley values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pixelshap_eval.explain import explain
from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.testing.tiny_models import build_tiny_model
from pixelshap_eval.values import answer_logprob, logprob_ask, similarity_ask, visually_relevant_tokens

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


def test_logprob_ask_is_the_runners_loglikelihood_of_the_answer(runner, scene):
    image, regions = scene
    ask = logprob_ask(runner, image, QUESTION, answer="red dog")
    images = [image, image.filter(ImageFilter.GaussianBlur(4))]
    np.testing.assert_allclose(ask(images), runner.loglikelihood(images, [QUESTION] * 2, ["red dog"] * 2))


def test_relevant_only_sums_the_tokens_the_blur_changes(runner, scene):
    image, _ = scene
    answer = "a big red dog"
    ask = logprob_ask(runner, image, QUESTION, answer=answer, relevant_only=True, threshold=0.0)
    full, blurred = runner.score([image, image.filter(ImageFilter.GaussianBlur(10.0))], [QUESTION] * 2, [answer] * 2)
    keep = visually_relevant_tokens(full.token_logprobs, blurred.token_logprobs, 0.0)
    assert ask([image])[0] == pytest.approx(answer_logprob(full.token_logprobs, keep))


def test_model_answer_is_the_default_reference_and_explain_is_efficient(runner, scene):
    image, regions = scene
    ask = logprob_ask(runner, image, QUESTION)
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


def test_similarity_ask_compares_with_the_full_image_answer(runner, scene):
    image, _ = scene
    embedder = CountingEmbedder()
    ask = similarity_ask(runner, image, QUESTION, embedder=embedder)
    black = Image.new("RGB", image.size)
    values = ask([image, black])
    assert values[0] == 1.0  # the full image gives the reference answer itself
    assert -1.0 <= values[1] <= 1.0
    reference, on_black = runner.generate([image, black], [QUESTION] * 2)
    if not on_black.strip():
        assert values[1] == 0.0  # silence shares nothing with the reference
    elif on_black == reference:
        assert values[1] == 1.0
    else:  # the cosine of the embedder's vectors of the two answers, which it was asked for
        expected = CountingEmbedder().embed([reference, on_black])
        assert values[1] == pytest.approx(float(expected[0] @ expected[1]))
        assert embedder.seen[-2:] == [reference, on_black]


def test_similarity_ask_scores_a_changed_answer_by_its_embedding():
    """With a model that answers by image brightness, the value is the embedder's cosine."""

    class BrightnessModel:
        def generate(self, images, questions):
            return ["bright sunny day" if np.asarray(im).mean() > 100 else "dark night" for im in images]

    embedder = CountingEmbedder()
    bright = Image.new("RGB", (4, 4), (255, 255, 255))
    ask = similarity_ask(BrightnessModel(), bright, QUESTION, embedder=embedder)
    values = ask([bright, Image.new("RGB", (4, 4))])
    expected = CountingEmbedder().embed(["bright sunny day", "dark night"])
    assert values.tolist() == [1.0, pytest.approx(float(expected[0] @ expected[1]))]
    assert embedder.seen == ["bright sunny day", "dark night"]
