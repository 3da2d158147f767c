"""The shipped toy VLM: loads with the Auto classes and through lmms-eval's llava_hf, answers
fixed scenes correctly, says "none" when the target is hidden; its training examples and
training script behave as documented."""

from __future__ import annotations

import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from pixelshap_eval.data.schema import object_regions
from pixelshap_eval.data.synth import (
    CELL,
    GRID,
    NO_REFERENT_ANSWER,
    QUESTION_TYPES,
    build_synth_dataset,
    sample_scene,
    scene_rng,
)
from pixelshap_eval.masking import mask_image
from pixelshap_eval.toy import TOY_MODEL_DIR, load_toy_model, toy_question_types
from pixelshap_eval.toy.examples import HidingPolicy, cell_box, hidden_example, hide_region
from pixelshap_eval.toy.processor import build_processor, conversation
from pixelshap_eval.toy.training import TrainingConfig, train

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXED_SEED = 4242  # a held-out scene seed (training never draws from it)


@pytest.fixture(scope="module")
def toy():
    return load_toy_model()


@pytest.fixture(scope="module")
def fixed_rows():
    return build_synth_dataset(2, seed=FIXED_SEED, question_types=toy_question_types())["test"]


def greedy(model, processor, images, questions) -> list[str]:
    prompts = [processor.apply_chat_template(conversation(q), add_generation_prompt=True, tokenize=False) for q in questions]
    inputs = processor(images=images, text=prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    return [a.strip() for a in processor.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)]


def test_claims_at_least_two_types_one_with_a_referent_among_coloured_distractors():
    claimed = toy_question_types()
    assert set(claimed) <= set(QUESTION_TYPES) and len(claimed) >= 2
    assert set(claimed) & {"color_at_position", "shape_of_color", "color_of_shape"}


def test_auto_classes_load_the_shipped_model_and_it_answers_fixed_scenes(fixed_rows):
    model = AutoModelForImageTextToText.from_pretrained(TOY_MODEL_DIR).eval()
    processor = AutoProcessor.from_pretrained(TOY_MODEL_DIR)
    assert model.dtype == torch.float32
    assert processor.tokenizer.padding_side == "left"
    answers = greedy(model, processor, [r.convert("RGB") for r in fixed_rows["image"]], fixed_rows["question"])
    assert answers == fixed_rows["answer"]


def test_answers_end_with_eos_and_batching_changes_nothing(toy, fixed_rows):
    model, processor = toy
    rows = list(fixed_rows)
    images, questions = [r["image"].convert("RGB") for r in rows], [r["question"] for r in rows]
    one_by_one = [greedy(model, processor, [im], [q])[0] for im, q in zip(images, questions)]
    assert greedy(model, processor, images, questions) == one_by_one  # prompts of different lengths
    prompt = processor.apply_chat_template(conversation(questions[0]), add_generation_prompt=True, tokenize=False)
    inputs = processor(images=images[:1], text=[prompt], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out[0, -1].item() == processor.tokenizer.eos_token_id and out.shape[1] == inputs["input_ids"].shape[1] + 2


def test_hiding_the_target_gives_none_and_hiding_the_others_changes_nothing(toy, fixed_rows):
    model, processor = toy
    images, questions, expected = [], [], []
    for row in fixed_rows:
        image, regions, target = row["image"].convert("RGB"), object_regions(row), row["target_index"]
        without_target = np.ones(len(regions), dtype=bool)
        without_target[target] = False
        only_target = ~without_target
        for coalition, answer in ((without_target, NO_REFERENT_ANSWER), (only_target, row["answer"])):
            images.append(mask_image(image, regions, coalition, strategy="bboa", fill="black", box_margin=2))
            questions.append(row["question"])
            expected.append(answer)
    assert greedy(model, processor, images, questions) == expected


def test_lmms_eval_llava_hf_answers_through_its_own_prompt(fixed_rows):
    from lmms_eval.api.instance import Instance
    from lmms_eval.models.simple.llava_hf import LlavaHf

    lm = LlavaHf(pretrained=str(TOY_MODEL_DIR), device="cpu", device_map="cpu", dtype="float32")
    docs = list(fixed_rows)
    lm.task_dict = {"pixelshap_synth": {"test": docs}}
    requests = [
        Instance(
            request_type="generate_until",
            arguments=(doc["question"], {"max_new_tokens": 8, "until": ["\n"]}, lambda d: [d["image"].convert("RGB")], i, "pixelshap_synth", "test"),
            idx=0,
            metadata={"task": "pixelshap_synth", "doc_id": i, "repeats": 1},
        )
        for i, doc in enumerate(docs)
    ]
    assert [a.strip() for a in lm.generate_until(requests)] == [doc["answer"] for doc in docs]


def test_processor_expands_one_image_token_per_patch_after_the_question():
    processor = build_processor()
    text = processor.apply_chat_template(conversation("What color is the circle?", "red"), tokenize=False)
    assert text == "USER: What color is the circle? <image> ASSISTANT: red</s>"
    ids = processor(images=[np.zeros((64, 64, 3), np.uint8)], text=[text], return_tensors="pt")["input_ids"][0]
    tokens = processor.tokenizer.convert_ids_to_tokens(ids)
    assert tokens.count("<image>") == GRID * GRID
    assert tokens[-2:] == ["red", "</s>"] and "<unk>" not in tokens


def test_string_content_as_llava_hf_sends_it_gives_the_same_prompt():
    processor = build_processor()
    from_parts = processor.apply_chat_template(conversation("What shape is the blue object?"), add_generation_prompt=True, tokenize=False)
    from_string = processor.tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\nWhat shape is the blue object?"}], add_generation_prompt=True, tokenize=False
    )
    assert from_string == from_parts == "USER: What shape is the blue object? <image> ASSISTANT:"


def test_hidden_examples_follow_the_hiding_policy():
    scene = sample_scene(scene_rng(1, "color_of_shape", 0), "color_of_shape")
    all_hidden = hidden_example(scene, np.random.default_rng(0), HidingPolicy(p_target=1.0, p_other=1.0, p_empty_cells=0))
    assert all_hidden.answer == NO_REFERENT_ANSWER and all_hidden.target_patch == -1
    assert not all_hidden.color_labels.any() and not all_hidden.shape_labels.any()
    for obj in scene.objects:
        assert (all_hidden.image[obj.mask] == 0).all()
    none_hidden = hidden_example(scene, np.random.default_rng(0), HidingPolicy(p_target=0.0, p_other=0.0, p_empty_cells=0))
    assert none_hidden.answer == scene.answer and np.array_equal(none_hidden.image, scene.image)
    row, col = scene.target.cell
    assert none_hidden.target_patch == row * GRID + col
    assert np.count_nonzero(none_hidden.color_labels) == len(scene.objects)
    assert none_hidden.question.startswith(scene.question)


@pytest.mark.parametrize("style,margin", [("precise", 0), ("box", 0), ("box", 3), ("cell", 0)])
def test_hide_region_blacks_out_the_object_and_stays_in_its_cell(style, margin):
    scene = sample_scene(scene_rng(2, "color_at_position", 0), "color_at_position")
    obj = scene.objects[0]
    image = scene.image.copy()
    hide_region(image, obj, style, margin)
    assert (image[obj.mask] == 0).all()
    x0, y0, x1, y1 = cell_box(obj.cell)
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(image[outside], scene.image[outside])
    assert x1 - x0 == CELL
    if style == "cell":
        assert (image[y0:y1, x0:x1] == 0).all()


def test_training_is_deterministic_from_its_seed():
    config = TrainingConfig(steps=2, batch_size=4, warmup=1, val_size=4, val_every=2, question_types=("color_of_odd", "shape_of_color"))
    first, _, record = train(config, log=lambda _: None)
    again, _, _ = train(config, log=lambda _: None)
    other, _, _ = train(replace(config, seed=1), log=lambda _: None)
    first_state, again_state, other_state = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(first_state[k], again_state[k]) for k in first_state)
    assert not all(torch.equal(first_state[k], other_state[k]) for k in first_state)
    assert record["steps"] == 2 and len(record["history"]) == 1


def test_training_script_writes_a_folder_the_auto_classes_load(tmp_path):
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "train_toy_vlm.py"), run_name="train_toy_vlm")
    out = tmp_path / "toy"
    argv = ["--out", str(out), "--steps", "1", "--batch-size", "2", "--warmup", "1", "--val-size", "2",
            "--question-types", "color_of_odd", "color_at_position"]
    assert script["main"](argv) == 0
    assert toy_question_types(out) == ("color_of_odd", "color_at_position")
    model, processor = load_toy_model(out)
    assert model.dtype == torch.float32 and processor.tokenizer.padding_side == "left"
    image = Image.fromarray(np.full((64, 64, 3), 200, np.uint8))
    assert isinstance(greedy(model, processor, [image], ["What color is the object?"])[0], str)


def test_bad_training_config_is_refused():
    with pytest.raises(ValueError, match="question types"):
        TrainingConfig(question_types=("count_objects",))
    with pytest.raises(ValueError, match="steps"):
        TrainingConfig(steps=0)
    with pytest.raises(ValueError, match="routing_layer"):
        TrainingConfig(routing_layer=9)
