"""The batched HF runner behind `pixelshap_hf`, on tiny random models of every supported family:
batching changes nothing, log-probabilities equal a hand-computed teacher-forced forward, and
models round-trip through save_pretrained / AutoModelForImageTextToText."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.testing.tiny_models import FAMILIES, build_tiny_model

QUESTIONS = ["What is the color of the object?", "Does this image show a dog? one word answer please", "what"]
CONTINUATIONS = ["red", "yes", "a big red dog"]


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(64, 48), (40, 40), (30, 70)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def manual_logprob(model, processor, runner: HFRunner, image, question, continuation) -> float:
    """Unpadded single forward of prompt + continuation, summed log-prob of the continuation."""
    encoded = processor(text=[runner.prompt(question)], images=[image], return_tensors="pt")
    target = processor.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.cat([encoded["input_ids"], torch.tensor([target])], dim=1)
    extra = {k: v for k, v in encoded.items() if k not in ("input_ids", "attention_mask")}
    if "mm_token_type_ids" in extra:
        extra["mm_token_type_ids"] = torch.cat([extra["mm_token_type_ids"], torch.zeros(1, len(target), dtype=torch.long)], 1)
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0].float(), -1)
    start = ids.shape[1] - len(target)
    return float(sum(logprobs[start + j - 1, token] for j, token in enumerate(target)))


@pytest.mark.parametrize("family", FAMILIES)
def test_batching_changes_nothing_and_matches_a_manual_forward(family, images):
    model, processor = build_tiny_model(family)
    batched, single = HFRunner(model, processor, batch_size=3), HFRunner(model, processor, batch_size=1)
    scores = batched.loglikelihood(images, QUESTIONS, CONTINUATIONS)
    np.testing.assert_allclose(scores, single.loglikelihood(images, QUESTIONS, CONTINUATIONS), atol=1e-5)
    manual = [manual_logprob(model, processor, batched, *item) for item in zip(images, QUESTIONS, CONTINUATIONS)]
    np.testing.assert_allclose(scores, manual, atol=1e-5)
    assert np.all(scores < 0)
    assert batched.generate(images, QUESTIONS, max_new_tokens=4) == single.generate(images, QUESTIONS, max_new_tokens=4)


def test_per_token_scores_sum_to_the_loglikelihood(images):
    model, processor = build_tiny_model("llava")
    runner = HFRunner(model, processor, batch_size=2)
    scores = runner.score(images, QUESTIONS, CONTINUATIONS)
    assert [len(s.token_logprobs) for s in scores] == [1, 1, 4]
    np.testing.assert_allclose([s.logprob for s in scores], runner.loglikelihood(images, QUESTIONS, CONTINUATIONS))
    greedy_answer = runner.generate(images[:1], QUESTIONS[:1], max_new_tokens=1)[0]
    assert runner.score(images[:1], QUESTIONS[:1], [greedy_answer])[0].is_greedy


def test_stop_strings_cut_the_answer(images):
    model, processor = build_tiny_model("llava")
    runner = HFRunner(model, processor)
    full = runner.generate(images[:1], QUESTIONS[:1], max_new_tokens=6)[0]
    first_word = full.split()[0]
    assert runner.generate(images[:1], QUESTIONS[:1], max_new_tokens=6, until=[f" {full.split()[1]}"])[0] == first_word


@pytest.mark.parametrize("family", ["llava", "qwen2_vl"])
def test_saved_models_load_through_the_auto_classes(family, images, tiny_model_dirs):
    model, processor = build_tiny_model(family)
    loaded = HFRunner.from_pretrained(tiny_model_dirs(family), dtype="float32", device="cpu")
    np.testing.assert_allclose(
        loaded.loglikelihood(images, QUESTIONS, CONTINUATIONS),
        HFRunner(model, processor).loglikelihood(images, QUESTIONS, CONTINUATIONS),
        atol=1e-5,
    )


def test_bad_calls_are_clear_errors(images):
    model, processor = build_tiny_model("llava")
    runner = HFRunner(model, processor)
    with pytest.raises(ValueError, match="equal lengths"):
        runner.loglikelihood(images, QUESTIONS[:2], CONTINUATIONS)
    with pytest.raises(ValueError, match="empty continuation"):
        runner.loglikelihood(images[:1], QUESTIONS[:1], [""])
    with pytest.raises(ValueError, match="batch_size"):
        HFRunner(model, processor, batch_size=0)


def test_an_rgba_image_reaches_the_model_as_the_coalitions_see_it(monkeypatch):
    """The reference answer and the coalitions share one normaliser: transparency is composited
    onto white (not dropped), in the runner exactly as in masking with every player visible."""
    from pixelshap_eval.images import to_rgb
    from pixelshap_eval.masking import Masker
    from pixelshap_eval.players import regions_from_boxes

    runner = HFRunner(*build_tiny_model("llava"), batch_size=4)
    pixels = np.zeros((8, 8, 4), dtype=np.uint8)
    pixels[..., 0] = 200  # red, half transparent
    pixels[..., 3] = 128
    rgba = Image.fromarray(pixels, "RGBA")
    seen: list[Image.Image] = []
    encode = runner._encode

    def spy(prompts, images):
        seen.extend(images)
        return encode(prompts, images)

    monkeypatch.setattr(runner, "_encode", spy)
    runner.generate([rgba], ["what"], max_new_tokens=1)
    runner.score([rgba], ["what"], ["red"])
    unmasked = Masker().mask(rgba, regions_from_boxes([(0, 0, 4, 4)], rgba.size), [True])
    for image in seen:
        assert np.array_equal(np.asarray(image), np.asarray(to_rgb(rgba)))
        assert np.array_equal(np.asarray(image), np.asarray(unmasked))
    assert len(seen) == 2 and not np.array_equal(np.asarray(seen[0]), np.asarray(rgba.convert("RGB")))
