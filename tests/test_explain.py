"""explain(): plan -> real masked images -> batched ask -> solve, on synthetic and COCO images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from pixelshap_eval.explain import Explanation, explain
from pixelshap_eval.images import to_rgb
from pixelshap_eval.masking import Masker
from pixelshap_eval.players import Region, box_of_mask
from pixelshap_eval.shapley import KernelShap, coalition_codes, shapley_from_table

SQUARES = ((5, 5), (25, 5), (45, 5), (5, 25), (25, 25))  # top-left corners of 10x10 squares
COLOURS = ((220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40), (40, 220, 220))


def squares_scene(n: int) -> tuple[Image.Image, list[Region]]:
    """A gray 60x40 image with n coloured squares, one player each."""
    pixels = np.full((40, 60, 3), 100, dtype=np.uint8)
    regions = []
    for index, ((x, y), colour) in enumerate(zip(SQUARES[:n], COLOURS)):
        pixels[y : y + 10, x : x + 10] = colour
        mask = np.zeros((40, 60), dtype=bool)
        mask[y : y + 10, x : x + 10] = True
        regions.append(Region(label=f"square{index}", mask=mask, box=box_of_mask(mask), id=index))
    return Image.fromarray(pixels), regions


def visible_players(image: Image.Image, regions: list[Region]) -> np.ndarray:
    """Which squares the image still shows, read from its pixels (hidden = filled black)."""
    pixels = np.asarray(image)
    return np.array([pixels[r.mask].mean() > 10 for r in regions])


def game(visible: np.ndarray) -> float:
    """A value with additive parts and an interaction between squares 0 and 1."""
    weights = np.array([1.0, 0.5, -0.3, 2.0, 0.1])[: len(visible)]
    return float(weights @ visible + 1.5 * (visible[0] and visible[1]))


def test_explain_runs_the_real_masks_and_matches_exact_shapley_of_the_encoded_game():
    image, regions = squares_scene(4)
    batches: list[int] = []

    def ask(images: list[Image.Image]) -> list[float]:
        batches.append(len(images))
        return [game(visible_players(im, regions)) for im in images]

    explanation = explain(image, regions, ask, estimator="exact", batch_size=5, progress=False)
    assert isinstance(explanation, Explanation)
    assert batches == [5, 5, 5, 1] and explanation.attribution.n_calls == 16
    table = np.array([game(np.array([(code >> i) & 1 for i in range(4)], dtype=bool)) for code in range(16)])
    np.testing.assert_allclose(explanation.coalition_values, table[coalition_codes(explanation.coalitions.masks)])
    np.testing.assert_allclose(explanation.attribution.scores, shapley_from_table(table))
    np.testing.assert_allclose(explanation.attribution.scores, [1.75, 1.25, -0.3, 2.0])
    assert explanation.regions == tuple(regions)


def test_explain_with_kernel_by_name_and_by_instance_gives_the_same_seeded_result():
    image, regions = squares_scene(5)

    def ask(images):
        return np.array([game(visible_players(im, regions)) for im in images])

    by_name = explain(image, regions, ask, budget=20, seed=7, progress=False)
    by_instance = explain(image, regions, ask, estimator=KernelShap(), budget=20, seed=7, progress=False)
    assert by_name.attribution.estimator == "kernel" and len(by_name.coalitions) <= 20
    np.testing.assert_array_equal(by_name.coalitions.masks, by_instance.coalitions.masks)
    np.testing.assert_allclose(by_name.attribution.scores, by_instance.attribution.scores)
    assert by_name.attribution.scores.sum() == pytest.approx(game(np.ones(5, bool)) - game(np.zeros(5, bool)))


def test_mask_options_reach_mask_image():
    image, regions = squares_scene(2)
    seen_colours = set()

    def ask(images):
        for im in images:
            seen_colours.update(map(tuple, np.asarray(im)[regions[0].mask].reshape(-1, 3).tolist()))
        return [0.0] * len(images)

    explain(image, regions, ask, estimator="loo", masker=Masker("precise", "gray", dilation=1), progress=False)
    assert (128, 128, 128) in seen_colours and (0, 0, 0) not in seen_colours


def test_explain_on_a_coco_image_gives_each_object_its_pixel_mass(shared_data):
    """Value = mean brightness after precise black masking: a pixel shown only when every
    object covering it is visible, so exact Shapley gives each covering object an equal share
    of that pixel's brightness."""
    folder = shared_data / "coco_tiny"
    annotations = json.loads((folder / "annotations" / "instances_val2017.json").read_text())
    image_info = annotations["images"][0]
    objects = [a for a in annotations["annotations"] if a["image_id"] == image_info["id"] and not a["iscrowd"]]
    height, width = image_info["height"], image_info["width"]
    masks = []
    for annotation in objects:
        segmentation = annotation["segmentation"]
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width)) if isinstance(segmentation, list) else segmentation
        masks.append(mask_utils.decode(rle).astype(bool))
    masks = sorted(masks, key=lambda m: -m.sum())[:3]
    assert len(masks) == 3, "the first coco_tiny val image should have at least 3 objects"
    regions = [Region(label=f"object{i}", mask=m, box=box_of_mask(m)) for i, m in enumerate(masks)]
    image = Image.open(folder / "val2017" / image_info["file_name"])

    def ask(images):
        return [np.asarray(im, dtype=float).mean() for im in images]

    explanation = explain(image, regions, ask, estimator="exact", masker=Masker("precise"), progress=False)
    brightness = np.asarray(to_rgb(image), dtype=float).mean(axis=2) / (height * width)
    cover = np.sum(masks, axis=0)
    expected = [np.sum(brightness[m] / cover[m]) for m in masks]
    np.testing.assert_allclose(explanation.attribution.scores, expected, rtol=1e-9)
    assert explanation.coalition_values[1] == pytest.approx(np.asarray(to_rgb(image), dtype=float).mean())


def test_explain_rejects_bad_inputs_with_clear_messages():
    image, regions = squares_scene(3)
    with pytest.raises(ValueError, match="one number per image"):
        explain(image, regions, lambda images: [1.0], progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        explain(image, regions, lambda images: [np.nan] * len(images), progress=False)
    with pytest.raises(ValueError, match="at least one region"):
        explain(image, [], lambda images: [0.0] * len(images), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        explain(image, regions, lambda images: [0.0] * len(images), batch_size=0, progress=False)
    with pytest.raises(TypeError, match="estimator"):
        explain(image, regions, lambda images: [0.0] * len(images), estimator=3, progress=False)
    with pytest.raises(ValueError, match="choose one of"):
        explain(image, regions, lambda images: [0.0] * len(images), estimator="shap", progress=False)
    small = Image.new("RGB", (30, 20))
    with pytest.raises(ValueError, match="mask but the image is"):
        explain(small, regions, lambda images: [0.0] * len(images), progress=False)
