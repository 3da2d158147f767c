"""iGOS+/iGOS++: gradients reach the mask (LLaVA and Qwen2-VL tiny models), the differentiable
preprocessing matches the HF processors, the published token rule, the objective's terms and
the reference metric on hand-computed cases, pooling, and determinism from the seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.igos import DocumentSkipped, IgosConfig, explain_igos
from pixelshap_eval.igos.baseline import blur_kernel_size, make_baseline, published_blur
from pixelshap_eval.igos.blend import blend, image_tensor, upsample
from pixelshap_eval.igos.model import AnswerForcing
from pixelshap_eval.igos.objective import Weights, alphas, btv, igos_plus, integral, l1_term, l2_term
from pixelshap_eval.igos.optimise import nesterov_step
from pixelshap_eval.igos.pooling import pool_scores, saliency_map
from pixelshap_eval.igos.preprocess import pixels_for
from pixelshap_eval.igos.reference_metric import reference_curves
from pixelshap_eval.igos.tokens import is_stop_token, select_visual_tokens
from pixelshap_eval.players import Region, grid_regions
from pixelshap_eval.testing.tiny_models import build_tiny_model

QUESTION = "where is the dog"  # the tiny LLaVA (seed 0) answers this image with six tokens
FAST = IgosConfig(mask_size=4, ig_steps=2, iterations=2, threshold=-100.0, max_new_tokens=6)


def random_image(seed: int, size: tuple[int, int] = (60, 40)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def llava() -> HFRunner:
    return HFRunner(*build_tiny_model("llava"))


@pytest.fixture(scope="module")
def qwen() -> HFRunner:
    return HFRunner(*build_tiny_model("qwen2_vl"))


# -- gradients and preprocessing ---------------------------------------------------------------


@pytest.mark.parametrize("family", ["llava", "qwen"])
def test_gradients_reach_the_mask(family, request):
    runner = request.getfixturevalue(family)
    forcing = AnswerForcing(runner)
    image = random_image(1)
    forced = forcing.forced_inputs(image, QUESTION, forcing.greedy_answer(image, QUESTION, 3))
    picture, baseline = image_tensor(image), image_tensor(make_baseline(image, "blur"))
    mask = torch.full((4, 4), 0.5, requires_grad=True)
    score = forcing.token_logprobs(forced, blend(picture, baseline, upsample(mask, picture.shape[-2:]))).sum()
    score.backward()
    assert mask.grad is not None and torch.isfinite(mask.grad).all()
    assert mask.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in runner.model.parameters())


@pytest.mark.parametrize("family", ["llava", "qwen"])
@pytest.mark.parametrize("size", [(60, 40), (33, 71), (32, 32)])
def test_preprocessing_matches_the_processor(family, size, request):
    processor = request.getfixturevalue(family).processor
    image = random_image(size[0]).filter(ImageFilter.GaussianBlur(2))
    expected = processor.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    got = pixels_for(processor)(image_tensor(image))
    assert got.shape == expected.shape
    # the processors round to uint8 before normalising: one grey level is 1 / 255 / std ~ 0.015
    assert (got - expected).abs().max() < 0.03
    assert (got - expected).abs().mean() < 0.01


def test_pad_to_square_matches_llava_image_processor():
    from transformers import LlavaImageProcessor

    processor = LlavaImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_pad=True)
    image = random_image(5, (50, 30)).filter(ImageFilter.GaussianBlur(2))
    expected = processor(images=[image], return_tensors="pt")["pixel_values"]
    got = pixels_for(processor)(image_tensor(image))
    assert got.shape == expected.shape and (got - expected).abs().max() < 0.03
    assert pixels_for(processor).pad


def test_anyres_processors_get_one_clear_error():
    _, processor = build_tiny_model("llava_next")
    with pytest.raises(ValueError, match="any-resolution"):
        pixels_for(processor)


# -- tokens ------------------------------------------------------------------------------------


def test_token_rule_threshold_first_position_and_stop_words():
    strings = ["black", "dog", "the", "car", ".", "red"]
    image = [0.0, -0.5, -0.1, -1.0, -0.2, -3.0]
    base = [-5.0, -2.0, -4.0, -1.5, -4.0, -3.9]  # gains: 5, 1.5, 3.9, 0.5, 3.8, 0.9
    chosen = select_visual_tokens(image, base, strings)
    assert chosen.positions == (1,)  # 0 is the first position, "the" and "." are stop tokens, the rest gain <= 1
    assert select_visual_tokens(image, base, strings, threshold=0.4).positions == (1, 3, 5)
    assert chosen.selected_strings == ("dog",)


def test_stop_words_kept_when_asked():
    strings = ["black", "dog", "the", "car", ".", "red"]
    image = [0.0, -0.5, -0.1, -1.0, -0.2, -3.0]
    base = [-5.0, -2.0, -4.0, -1.5, -4.0, -3.9]
    assert select_visual_tokens(image, base, strings, drop_stop_words=False).positions == (1, 2, 4)
    punctuation_only = [":"] * 4  # a randomised model's answer
    with pytest.raises(DocumentSkipped, match="stop-words excluded"):
        select_visual_tokens([0.0] * 4, [-3.0] * 4, punctuation_only)
    assert select_visual_tokens([0.0] * 4, [-3.0] * 4, punctuation_only, drop_stop_words=False).positions == (1, 2, 3)
    with pytest.raises(ValueError, match="stop_words"):
        IgosConfig(stop_words="no")  # type: ignore[arg-type]


def test_one_token_rule_and_skip():
    half = math.log(0.5)
    assert select_visual_tokens([-1.0], [-1.0 + half], ["A"]).positions == (0,)  # p_base = 0.5 p_image
    with pytest.raises(DocumentSkipped, match="one-token"):
        select_visual_tokens([-1.0], [-1.0 + half + 0.01], ["A"])
    with pytest.raises(DocumentSkipped, match="nats"):
        select_visual_tokens([-1.0, -1.0], [-9.0, -1.5], ["red", "car"])  # only the first position gains
    with pytest.raises(ValueError, match="same answer tokens"):
        select_visual_tokens([-1.0, -2.0], [-1.0], ["a", "b"])


def test_stop_tokens_are_read_from_the_models_own_tokenizer(llava):
    forcing = AnswerForcing(llava)
    ids = tuple(llava.tokenizer.convert_tokens_to_ids(t) for t in ["red", "the", "is", ".", "(", "dog", "a"])
    assert [is_stop_token(s) for s in forcing.token_strings(ids)] == [False, True, True, True, True, False, True]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-20, 0), st.floats(-20, 0), st.sampled_from(["dog", "the", ",", "red"])), min_size=2, max_size=8))
def test_token_rule_property(rows):
    image, base, strings = (list(col) for col in zip(*rows))
    try:
        chosen = set(select_visual_tokens(image, base, strings).positions)
    except DocumentSkipped:
        chosen = set()
    for t in range(len(rows)):
        eligible = t > 0 and image[t] - base[t] > 1.0 and not is_stop_token(strings[t])
        assert (t in chosen) == eligible


# -- objective, optimiser, metric ----------------------------------------------------------------


def test_regulariser_terms_hand_computed():
    mask = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert l1_term(mask).item() == pytest.approx(0.5)
    assert l2_term(mask, 2, 1.0).item() == pytest.approx(2 * math.exp(-2.0))
    flat = torch.zeros(3, 2, 3)
    # a = 0 (no vertical change), b = 1, upsampled to width 3: columns 0, 0.5, 1 -> bil_b = 0.25
    assert btv(mask, flat).item() == pytest.approx(0.5 * (0 + 1 + 0 + 0.25))
    edge = torch.zeros(3, 2, 3)
    edge[:, :, 2] = 10.0  # a strong edge between columns 1 and 2 silences that difference
    assert btv(mask, edge).item() == pytest.approx(0.5 * (0 + 1 + 0 + 0.125))


def test_integrals_hand_computed():
    mask = torch.ones(2, 2, requires_grad=True)
    linear = lambda keep: keep.sum()  # noqa: E731  S = summed image weight
    steps = 4
    mean_alpha = sum(alphas(steps)) / steps
    assert alphas(steps) == [0.25, 0.5, 0.75, 1.0]
    assert integral(linear, lambda: mask, (2, 2), steps, "deletion", 1.0) == pytest.approx(4 * mean_alpha)
    assert torch.allclose(mask.grad, torch.full((2, 2), mean_alpha))
    mask.grad = None
    assert integral(linear, lambda: mask, (2, 2), steps, "insertion", 1.0) == pytest.approx(4 - 4 * mean_alpha)
    assert torch.allclose(mask.grad, torch.full((2, 2), -mean_alpha))
    half = torch.full((2, 2), 0.5, requires_grad=True)
    weights = Weights(l1=1.0, l2=0.0, l3=0.0, gamma=1.0)
    value = igos_plus(half, linear, torch.zeros(3, 2, 2), 0, steps, weights)
    assert value == pytest.approx(2 * mean_alpha - (4 - 2 * mean_alpha) + 0.5)  # D - J + mean|1 - M|
    assert torch.allclose(half.grad, torch.full((2, 2), 2 * mean_alpha - 0.25))  # d mean|1-M| / dM = -1/4


def test_nesterov_step_hand_computed():
    mask = torch.full((1, 1), 0.5, requires_grad=True)
    mask.grad = torch.full((1, 1), 0.01)
    theta = nesterov_step(mask, torch.zeros(1, 1), 0, lr=10.0, momentum=5.0)
    assert mask.item() == pytest.approx(0.4) and theta.item() == pytest.approx(0.4)
    mask.grad = torch.full((1, 1), 0.01)
    nesterov_step(mask, theta, 1, lr=10.0, momentum=5.0)
    assert mask.item() == pytest.approx(0.3 + (0.3 - 0.4) / 6)
    mask.grad = torch.full((1, 1), -1.0)
    nesterov_step(mask, theta, 0, lr=10.0, momentum=5.0)
    assert mask.item() == 1.0  # clamped


def test_reference_metric_hand_computed():
    mask = np.array([[0.1, 0.9], [0.5, 0.3]])
    curves = reference_curves(mask, (2, 2), lambda keep: float(keep.mean()))
    assert curves.deletion == pytest.approx((0.75, 0.5, 0.25, 0.0))
    assert curves.insertion == pytest.approx((0.25, 0.5, 0.75, 1.0))
    assert (curves.deletion_auc, curves.insertion_auc) == pytest.approx((0.375, 0.625))


def test_reference_metric_last_step_is_weighted_by_its_score():
    mask = np.random.default_rng(0).random((32, 32))
    curves = reference_curves(mask, (32, 32), lambda keep: float(keep.mean()))
    assert curves.widths[-1] == 4 and sum(curves.widths) == 1024 and len(curves.widths) == 52
    assert curves.deletion[-1] == pytest.approx(0.0)
    expected = sum(w * s for w, s in zip(curves.widths, curves.deletion)) / 1024
    assert curves.deletion_auc == pytest.approx(expected)  # the reference added the constant 4 instead


# -- pooling, baseline, config -----------------------------------------------------------------


def test_pooled_scores_on_a_hand_made_mask():
    saliency = saliency_map(np.array([[0.0, 1.0], [1.0, 1.0]]), (3, 3))  # (width, height)
    assert saliency.tolist() == [[1.0, 0.5, 0.0], [0.5, 0.25, 0.0], [0.0, 0.0, 0.0]]
    left = np.zeros((3, 3), bool)
    left[:, 0] = True
    corner = np.zeros((3, 3), bool)
    corner[0, 0] = True
    regions = [Region("left", left, (0, 0, 1, 3)), Region("corner", corner, (0, 0, 1, 1)),
               Region("empty", np.zeros((3, 3), bool), (0, 0, 0, 0))]
    assert pool_scores(saliency, regions).tolist() == pytest.approx([0.5, 1.0, 0.0])
    cells = pool_scores(saliency, grid_regions((3, 3), 3, 3))
    assert cells.tolist() == pytest.approx(saliency.ravel().tolist())
    with pytest.raises(ValueError, match="saliency map"):
        pool_scores(np.zeros((2, 2)), regions)


def test_published_blur_kernel_and_filter():
    assert [blur_kernel_size(w) for w in (2000, 1999, 800, 500, 499, 10)] == [501, 301, 301, 201, 101, 101]
    image = random_image(3, (120, 90))
    blurred = np.asarray(published_blur(image), dtype=int)
    cv2 = pytest.importorskip("cv2")
    expected = cv2.GaussianBlur(np.asarray(image), (101, 101), 100).astype(int)
    assert np.abs(blurred - expected).max() <= 1
    assert np.asarray(make_baseline(image, "black")).max() == 0
    assert np.array_equal(np.asarray(make_baseline(image, "noise", 4)), np.asarray(make_baseline(image, "noise", 4)))
    with pytest.raises(ValueError, match="unknown iGOS baseline"):
        make_baseline(image, "grey")


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown iGOS settings"):
        IgosConfig.from_mapping({"size": 32})
    with pytest.raises(ValueError, match="variant"):
        IgosConfig(variant="igos")
    assert IgosConfig.from_mapping({"variant": "igos++"}).variant == "igos++"


# -- end to end --------------------------------------------------------------------------------


def test_explanation_is_determined_by_the_seed(llava):
    image = random_image(1)
    regions = grid_regions(image.size, 2, 2)
    first = explain_igos(llava, image, QUESTION, regions, FAST, seed=3, reference_metric=False)
    again = explain_igos(llava, image, QUESTION, regions, FAST, seed=3, reference_metric=False)
    other = explain_igos(llava, image, QUESTION, regions, FAST, seed=4, reference_metric=False)
    assert first.tokens.positions == (1, 2, 4)  # "is" and "a" are stop-words, position 0 never counts
    assert np.array_equal(first.mask, again.mask) and first.losses == again.losses
    assert not np.array_equal(first.mask, other.mask)
    assert first.scores is not None and first.scores.shape == (4,)
    assert len(first.losses) == FAST.iterations and first.mask.shape == (4, 4)
    assert first.model_passes == 1 + 2 + FAST.iterations * 2 * FAST.ig_steps


def test_igos_pp_and_reference_metric(llava):
    image = random_image(1)
    config = IgosConfig.from_mapping({**FAST.__dict__, "variant": "igos++", "iterations": 1})
    result = explain_igos(llava, image, QUESTION, None, config, seed=0)
    assert len(result.masks) == 2 and np.allclose(result.mask, result.masks[0] * result.masks[1])
    assert result.reference is not None and len(result.reference.widths) == 16  # 16 cells, step 1
    assert 0.0 <= result.mask.min() <= result.mask.max() <= 1.0
    assert result.model_passes == 1 + 2 + 4 * FAST.ig_steps + 2 + 2 * 16


def test_no_relevant_token_skips_with_a_reason(llava):
    with pytest.raises(DocumentSkipped, match="one-token"):
        explain_igos(llava, random_image(0), QUESTION, None, FAST, seed=0)
