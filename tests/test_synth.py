"""Synthetic scenes: determinism, exact masks and boxes, question/answer consistency, rows."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_from_disk
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES, decode_mask, object_regions
from pixelshap_eval.data.synth import (
    CELL,
    CELL_MARGIN,
    COLORS,
    DISTRACTOR_COLOR,
    IMAGE_SIZE,
    QUADRANTS,
    QUESTION_TYPES,
    SHAPES,
    build_synth_dataset,
    build_synth_set,
    generate_scenes,
    paint,
    sample_scene,
    scene_rng,
    shape_mask,
    textured_background,
)
from pixelshap_eval.players import box_of_mask

scene_keys = st.tuples(st.integers(0, 2**31), st.sampled_from(QUESTION_TYPES), st.integers(0, 10_000))


def test_same_seed_same_scenes_other_seed_other_scenes():
    first, again = generate_scenes(3, seed=7), generate_scenes(3, seed=7)
    other = generate_scenes(3, seed=8)
    assert all(np.array_equal(a.image, b.image) and a.question == b.question for a, b in zip(first, again))
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(first, other))


def test_a_scene_does_not_depend_on_which_other_types_are_built():
    alone = generate_scenes(2, seed=3, question_types=["shape_of_color"])
    mixed = generate_scenes(2, seed=3)
    assert [s.question_type for s in mixed[:4]] == list(QUESTION_TYPES)
    assert np.array_equal(alone[1].image, mixed[len(QUESTION_TYPES) + 2].image)


@settings(deadline=None, max_examples=40)
@given(scene_keys)
def test_masks_are_exactly_the_drawn_pixels_and_boxes_are_tight(key):
    seed, qtype, index = key
    scene = sample_scene(scene_rng(seed, qtype, index), qtype)
    background = textured_background(scene_rng(seed, qtype, index))  # first draw of the same stream
    assert np.array_equal(scene.image, paint(background, scene.objects))
    union = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for obj in scene.objects:
        assert obj.mask.any() and not (obj.mask & union).any(), "objects overlap"
        union |= obj.mask
        assert (scene.image[obj.mask] == obj.rgb).all()
        assert obj.box == box_of_mask(obj.mask)
        x, y, w, h = obj.box
        row, col = obj.cell
        assert col * CELL + CELL_MARGIN <= x and x + w <= (col + 1) * CELL - CELL_MARGIN
        assert row * CELL + CELL_MARGIN <= y and y + h <= (row + 1) * CELL - CELL_MARGIN
    assert np.array_equal(scene.image[~union], background[~union])
    assert len({obj.cell for obj in scene.objects}) == len(scene.objects)


def test_background_is_light_so_black_fill_never_looks_drawn():
    background = textured_background(np.random.default_rng(0))
    assert background.min() > 150 and background.std() > 1


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_fills_its_box_edges_and_is_distinct(shape):
    masks = {s: shape_mask(s, 10) for s in SHAPES}
    mask = masks[shape]
    assert mask.any(axis=1).all() and mask.any(axis=0).all(), "a shape spans its whole box"
    assert all(not np.array_equal(mask, other) for name, other in masks.items() if name != shape)


def test_unknown_shape_or_type_is_refused():
    with pytest.raises(ValueError, match="unknown shape"):
        shape_mask("hexagon", 10)
    with pytest.raises(ValueError, match="question type"):
        sample_scene(np.random.default_rng(0), "count_objects")
    with pytest.raises(ValueError, match="question types"):
        build_synth_dataset(1, question_types=["count_objects"])
    with pytest.raises(ValueError, match="n_per_type"):
        build_synth_dataset(0)


@settings(deadline=None, max_examples=60)
@given(scene_keys)
def test_question_answer_and_target_agree(key):
    seed, qtype, index = key
    scene = sample_scene(scene_rng(seed, qtype, index), qtype)
    target, others = scene.target, [o for i, o in enumerate(scene.objects) if i != scene.target_index]
    if qtype == "color_of_odd":
        assert scene.question == "What color is the object?"
        assert target.color in COLORS and all(o.color == DISTRACTOR_COLOR for o in others)
        assert scene.answer == target.color
    elif qtype == "color_at_position":
        assert sorted(o.quadrant for o in scene.objects) == [0, 1, 2, 3]
        assert scene.question == f"What color is the object at the {QUADRANTS[target.quadrant]}?"
        assert all(o.color in COLORS for o in scene.objects)
        assert scene.answer == target.color
    elif qtype == "shape_of_color":
        assert scene.question == f"What shape is the {target.color} object?"
        assert all(o.color != target.color for o in others)
        assert scene.answer == target.shape
    else:
        assert scene.question == f"What color is the {target.shape}?"
        assert all(o.shape != target.shape for o in others)
        assert scene.answer == target.color
    assert 3 <= len(scene.objects) <= 6


def test_dataset_rows_follow_the_schema_and_match_the_scenes(tmp_path):
    n = 2
    dataset = build_synth_dataset(n, seed=5)
    assert list(dataset) == ["test"]
    rows = dataset["test"]
    assert rows.features == OBJECT_IMPORTANCE_FEATURES
    assert len(rows) == n * len(QUESTION_TYPES)
    scenes = generate_scenes(n, seed=5)
    for row, scene in zip(rows, scenes):
        assert np.array_equal(np.asarray(row["image"].convert("RGB")), scene.image)
        assert (row["question"], row["answer"], row["question_type"]) == (scene.question, scene.answer, scene.question_type)
        assert row["target"] == row["objects"][row["target_index"]]
        assert row["source"] == "synth" and (row["width"], row["height"]) == (IMAGE_SIZE, IMAGE_SIZE)
        regions = object_regions(row)
        for region, obj in zip(regions, scene.objects):
            assert np.array_equal(region.mask, obj.mask)
            assert region.label == f"{obj.color} {obj.shape}"
            assert region.box == obj.box
        target = row["target"]
        assert decode_mask(target["mask_rle"], IMAGE_SIZE, IMAGE_SIZE).sum() == target["area"]
    assert len(set(rows["question_id"])) == len(rows)

    saved = load_from_disk(str(build_synth_set(n_per_type=1, seed=5).save(tmp_path / "synth")))
    assert saved["test"]["question_id"] == rows["question_id"][: len(QUESTION_TYPES)]
