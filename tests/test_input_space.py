"""Masking in the model's input space (`input_space`), against masking the image and then
running the processor (the exact path), for every tiny model family: pixel atoms reproduce the
masker's hidden pixels, nearest resampling and all-or-nothing coalitions are bit-exact, bicubic
borders stay within a measured tolerance, batches equal the processor's own batches, and a real
`lmms-eval` run gives close coalition values in both modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lmms_runs import run_lmms
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.input_space import CoalitionInput, InputSpaceEncoder, pixel_atoms
from pixelshap_eval.masking import Masker
from pixelshap_eval.players import Region, box_of_mask, grid_regions
from pixelshap_eval.testing.tiny_models import FAMILIES, build_tiny_model

QUESTION = "what is the color of the object?"


def random_regions(rng: np.random.Generator, size: tuple[int, int], count: int) -> list[Region]:
    width, height = size
    regions = []
    for k in range(count):
        mask = np.zeros((height, width), dtype=bool)
        y, x = rng.integers(0, height - 4), rng.integers(0, width - 4)
        mask[y : y + rng.integers(3, height // 2), x : x + rng.integers(3, width // 2)] = True
        mask &= rng.random(mask.shape) < 0.9  # ragged, so masks and boxes differ
        regions.append(Region(label=f"r{k}", mask=mask, box=box_of_mask(mask)))
    return regions


def photo(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    width, height = size
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC))
    return Image.fromarray(smooth)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), strategy=st.sampled_from(["bboa", "bbox", "precise"]), dilation=st.integers(0, 3), margin=st.integers(0, 4))
def test_atoms_hide_exactly_the_maskers_pixels(seed, strategy, dilation, margin):
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
    regions = random_regions(rng, size, int(rng.integers(1, 6)))
    masker = Masker(strategy=strategy, dilation=dilation, box_margin=margin)
    atoms = pixel_atoms(size, regions, masker)
    coalitions = rng.random((8, len(regions))) < 0.5
    for coalition, hidden in zip(coalitions, atoms.hidden(coalitions)):
        np.testing.assert_array_equal(hidden[atoms.labels], masker.hidden_pixels(size, regions, coalition))


def encoded_pair(family, masker, coalitions, size=(96, 72), seed=0, resample=None):
    """(input-space batch, processor batch of the masked images) for one document."""
    model, processor = build_tiny_model(family)
    if resample is not None:
        processor.image_processor.resample = resample
    runner = HFRunner(model, processor)
    rng = np.random.default_rng(seed)
    image = photo(rng, size)
    regions = random_regions(rng, size, coalitions.shape[1])
    atoms = pixel_atoms(size, regions, masker)
    items = [CoalitionInput("doc", image, atoms, hidden) for hidden in atoms.hidden(coalitions)]
    ours = InputSpaceEncoder(processor).encode([runner.prompt(QUESTION)] * len(items), items)
    masked = [masker.mask(image, regions, c) for c in coalitions]
    theirs = processor(text=[runner.prompt(QUESTION)] * len(items), images=masked, return_tensors="pt", padding=True)
    return ours, theirs


def assert_same_batch(ours, theirs, exact=True):
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if exact or not value.is_floating_point():
            assert torch.equal(ours[key], value), key


@pytest.mark.parametrize("family", FAMILIES)
def test_nearest_resampling_is_bit_exact(family):
    coalitions = np.random.default_rng(1).random((6, 5)) < 0.5
    ours, theirs = encoded_pair(family, Masker(fill="gray"), coalitions, resample=0)
    assert_same_batch(ours, theirs)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fill", ["black", "pad", "blur"])
def test_nothing_or_everything_hidden_is_bit_exact_under_bicubic(family, fill):
    """Grid players cover the image, so the empty coalition hides every pixel."""
    model, processor = build_tiny_model(family)
    runner = HFRunner(model, processor)
    image = photo(np.random.default_rng(2), (80, 60))
    regions = grid_regions(image.size, 3, 3)
    masker = Masker(strategy="bbox", fill=fill)
    atoms = pixel_atoms(image.size, regions, masker)
    coalitions = np.array([[True] * len(regions), [False] * len(regions)])
    items = [CoalitionInput("doc", image, atoms, hidden) for hidden in atoms.hidden(coalitions)]
    ours = InputSpaceEncoder(processor).encode([runner.prompt(QUESTION)] * 2, items)
    masked = [masker.mask(image, regions, c) for c in coalitions]
    theirs = processor(text=[runner.prompt(QUESTION)] * 2, images=masked, return_tensors="pt", padding=True)
    assert_same_batch(ours, theirs)


@pytest.mark.parametrize("family", FAMILIES)
def test_bicubic_borders_stay_within_the_measured_tolerance(family):
    """Measured on these images: mean |difference| < 0.01 and max < 0.6 normalised units
    (about 0.15 of the 0-255 range), and only at the borders of hidden regions."""
    coalitions = np.random.default_rng(3).random((6, 5)) < 0.5
    ours, theirs = encoded_pair(family, Masker(fill="black"), coalitions)
    assert_same_batch(ours, theirs, exact=False)
    difference = (ours["pixel_values"] - theirs["pixel_values"]).abs()
    assert float(difference.mean()) < 0.01
    assert float(difference.max()) < 0.6
    assert float((difference > 1e-4).float().mean()) < 0.5  # most elements are untouched by any border


@pytest.mark.parametrize("family", FAMILIES)
def test_a_batch_of_documents_equals_the_processors_own_batch(family):
    """Two documents of different sizes and prompts in one batch: left padding, concatenated
    patch rows and (LLaVA-NeXT) tiles padded to the most, as the processor batches them."""
    model, processor = build_tiny_model(family)
    processor.image_processor.resample = 0
    runner = HFRunner(model, processor)
    masker = Masker(fill="gray")
    rng = np.random.default_rng(4)
    items, prompts, masked = [], [], []
    for doc, (size, question) in enumerate([((96, 40), "what"), ((50, 90), QUESTION)]):
        image = photo(rng, size)
        regions = random_regions(rng, size, 4)
        atoms = pixel_atoms(size, regions, masker)
        coalitions = rng.random((3, 4)) < 0.5
        for coalition, hidden in zip(coalitions, atoms.hidden(coalitions)):
            items.append(CoalitionInput(doc, image, atoms, hidden))
            prompts.append(runner.prompt(question))
            masked.append(masker.mask(image, regions, coalition))
    order = [0, 3, 1, 4, 2, 5]  # documents interleaved
    ours = InputSpaceEncoder(processor).encode([prompts[i] for i in order], [items[i] for i in order])
    theirs = processor(text=[prompts[i] for i in order], images=[masked[i] for i in order], return_tensors="pt", padding=True)
    assert_same_batch(ours, theirs)


@pytest.mark.parametrize("family", FAMILIES)
def test_atoms_mapped_in_one_call_or_three_at_a_time_are_identical(family, monkeypatch):
    """How many atoms one processor call maps (`_ATOMS_PER_CALL`) bounds memory only: the masks,
    and so every coalition's pixels, are bit-identical however the atoms are split into calls."""
    from pixelshap_eval import input_space

    model, processor = build_tiny_model(family)
    runner = HFRunner(model, processor)
    rng = np.random.default_rng(5)
    image = photo(rng, (72, 56))
    atoms = pixel_atoms(image.size, random_regions(rng, image.size, 5), Masker(fill="black"))
    assert len(atoms) > 6  # several calls of three below
    items = [CoalitionInput("doc", image, atoms, hidden) for hidden in atoms.hidden(rng.random((4, 5)) < 0.5)]
    prompts = [runner.prompt(QUESTION)] * len(items)
    one_call = InputSpaceEncoder(processor)
    weights, pixels = one_call.document(prompts[0], items[0]).atom_weights, one_call.encode(prompts, items)["pixel_values"]
    assert len(atoms) <= input_space._ATOMS_PER_CALL  # one call
    monkeypatch.setattr(input_space, "_ATOMS_PER_CALL", 3)
    three_at_a_time = InputSpaceEncoder(processor)
    assert torch.equal(three_at_a_time.document(prompts[0], items[0]).atom_weights, weights)
    assert torch.equal(three_at_a_time.encode(prompts, items)["pixel_values"], pixels)


def test_a_processor_without_a_torchvision_backend_is_refused_with_the_way_out():
    class Processor:
        image_processor = object()

    with pytest.raises(ValueError, match="masking=image"):
        InputSpaceEncoder(Processor())


@pytest.mark.e2e
def test_lmms_eval_runs_in_both_modes_give_close_values(tiny_model_dirs, coco_set_dir, pixelshap_data_dir, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(pixelshap_data_dir), "PIXELSHAP_CONFIG": "max_players=5,budget=16,heatmaps=false"}
    runs = {}
    for masking in ("input", "image"):
        args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={tiny_model_dirs('llava')},device=cpu,dtype=float32,masking={masking}",
                "--batch_size", "16", "--tasks", "pixelshap_coco", "--limit", "2", "--gen_kwargs", "max_new_tokens=4"]
        runs[masking] = {r["question_id"]: r for r in run_lmms(args, tmp_path / masking, env).records("pixelshap_coco")}
    assert runs["input"].keys() == runs["image"].keys()
    compared = 0
    for key, record in runs["image"].items():
        assert runs["input"][key]["full_answer"] == record["full_answer"]  # the full image is bit-exact
        if "coalition_values" in record:  # not skipped (an empty full answer)
            np.testing.assert_allclose(runs["input"][key]["coalition_values"], record["coalition_values"], atol=0.05)
            compared += 1
    assert compared >= 1


def test_the_response_store_keys_on_the_masking_path(tmp_path):
    """`pixelshap_store` must never serve an input-space answer to an image-path run (or back),
    also when the masking path is pixelshap_hf's default and not among the model arguments."""
    from lmms_eval.api.model import lmms

    from pixelshap_eval.lmms.stored_model import StoredResponses

    class Inner(lmms):
        def __init__(self, masking: str) -> None:
            super().__init__()
            self.response_identity = {"masking": masking}

        def generate_until(self, requests):
            return []

        def loglikelihood(self, requests):
            return []

        def generate_until_multi_round(self, requests):
            return []

    def identity(masking, args):
        return StoredResponses(Inner(masking), "pixelshap_hf", args, str(tmp_path / "store.sqlite")).identity

    default = identity("input", {"pretrained": "m"})
    assert default != identity("image", {"pretrained": "m", "masking": "image"})
    assert default == identity("input", {"pretrained": "m", "masking": "input"})


def test_a_fine_grid_with_grown_boxes_has_more_atoms_than_the_input_path_takes():
    """Why MAX_ATOMS exists: a 12x12 grid with grown boxes cuts the image into ~1,000 atoms
    (each would hold a processed image), so such documents are asked with masked images."""
    from pixelshap_eval.input_space import MAX_ATOMS

    regions = grid_regions((240, 240), 12, 12)
    masker = Masker(strategy="bboa", box_margin=2)
    atoms = pixel_atoms((240, 240), regions, masker)  # 288 signature bits: the byte-row path
    assert len(atoms) > MAX_ATOMS
    coalitions = np.random.default_rng(5).random((3, len(regions))) < 0.5
    for coalition, hidden in zip(coalitions, atoms.hidden(coalitions)):
        np.testing.assert_array_equal(hidden[atoms.labels], masker.hidden_pixels((240, 240), regions, coalition))
