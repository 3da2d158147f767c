"""The generic image + question + grayscale-map builder, on a small set built here from real
photos and hand-made maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skimage_data

from pixelshap_eval import cli
from pixelshap_eval.data.attention import build_attention_set, pool_to_grid, top_cells
from pixelshap_eval.data.schema import ATTENTION_MAP_FEATURES

COCO_IMAGE = "000000161799.jpg"  # 640x427 in coco_tiny val2017

# Hand-checked cells on a 640x427 image (padded square side 640, image at y offset 106, cells
# of 53.33 px; a pixel belongs to the cell holding its centre), as x0, x1, y0, y1 (exclusive):
# cell 79 (row 6, col 6): x 320..372, y 214..266; cell 67 (row 5, col 6): y 161..213;
# cell 78 (row 6, col 5): x 267..319.
CELL_PIXELS = {79: (320, 373, 214, 267), 67: (320, 373, 161, 214), 78: (267, 320, 214, 267)}
CELL_LEVELS = {79: 255, 67: 100, 78: 50}


@pytest.fixture()
def small_set(tmp_path: Path, shared_data: Path) -> Path:
    """Three rows: a COCO photo with a three-level map on known cells, a square photo (480 px,
    so every cell has 40x40 pixels) with a uniform smaller map, and the same photo with a
    16-bit map lit in one corner cell."""
    (tmp_path / "maps").mkdir()
    photo = shared_data / "coco_tiny" / "val2017" / COCO_IMAGE
    attention = np.zeros((427, 640), dtype=np.uint8)
    for cell, (x0, x1, y0, y1) in CELL_PIXELS.items():
        attention[y0:y1, x0:x1] = CELL_LEVELS[cell]
    Image.fromarray(attention).save(tmp_path / "maps" / "coco.png")
    Image.fromarray(skimage_data.astronaut()).resize((480, 480)).save(tmp_path / "astronaut.png")
    Image.fromarray(np.full((256, 256), 200, dtype=np.uint8)).save(tmp_path / "maps" / "uniform.png")
    corner = np.zeros((480, 480), dtype=np.uint16)
    corner[440:, 440:] = 60000  # square 480 px image: cells of 40 px, so x, y >= 440 is cell 144
    Image.fromarray(corner).save(tmp_path / "maps" / "corner16.png")
    lines = [
        {
            "image": str(photo),
            "question": "What is the man holding?",
            "answer": "a kite",
            "map": "maps/coco.png",
            "question_id": "q-coco",
        },
        {"image": "astronaut.png", "question": "Where is the flag?", "map": "maps/uniform.png"},
        {"image": "astronaut.png", "question": "What is in the corner?", "map": "maps/corner16.png"},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return manifest


def test_builds_rows_with_pooled_maps_and_top_cells(small_set, tmp_path):
    built = build_attention_set(small_set, source="hand-made maps")
    out = built.save(tmp_path / "out")
    rows = load_from_disk(str(out))["test"]
    assert rows.features == ATTENTION_MAP_FEATURES and rows.num_rows == 3
    assert rows["question_id"] == ["q-coco", "manifest-2", "manifest-3"]
    assert rows["answer"] == ["a kite", "", ""] and set(rows["source"]) == {"hand-made maps"}

    coco, uniform, corner = rows[0], rows[1], rows[2]
    assert (coco["width"], coco["height"]) == (640, 427) and coco["attention_map"].size == (640, 427)
    assert coco["human_patches"] == [79, 67, 78]
    grid = np.asarray(coco["human_map"]).ravel()
    levels = np.array([CELL_LEVELS[c] for c in (79, 67, 78)], dtype=float)
    assert np.allclose(grid[[78, 66, 77]], levels / levels.sum(), atol=1e-6)
    assert np.isclose(grid.sum(), 1.0) and np.count_nonzero(grid) == 3

    assert np.allclose(np.asarray(uniform["human_map"]), 1 / 144, atol=1e-6)
    assert uniform["human_patches"] == [1, 2, 3]  # all tied: lowest indices first
    assert uniform["attention_map"].size == (480, 480)
    assert corner["human_patches"] == [144]
    assert built.stats["maps resized to their image"] == 1 and built.stats["images"] == 2
    assert "hand-made maps" in (out / "README.md").read_text()


def test_stored_map_keeps_the_shape_of_the_source_map(small_set):
    rows = build_attention_set(small_set).dataset["test"]
    stored = np.asarray(rows[0]["attention_map"], dtype=float)  # the source peak is already 255
    for cell, (x0, x1, y0, y1) in CELL_PIXELS.items():
        assert (stored[y0:y1, x0:x1] == CELL_LEVELS[cell]).all()
    assert stored.sum() == sum(CELL_LEVELS[cell] * 53 * 53 for cell in CELL_PIXELS)


@settings(deadline=None, max_examples=40)
@given(
    width=st.integers(8, 80),
    height=st.integers(8, 80),
    seed=st.integers(0, 2**16),
)
def test_pooling_conserves_mass_and_never_puts_any_in_the_padding(width, height, seed):
    attention = np.random.default_rng(seed).random((height, width))
    grid = pool_to_grid(attention)
    assert grid.shape == (12, 12) and np.isclose(grid.sum(), 1.0, atol=1e-5)
    side = max(width, height)
    ox, oy = (side - width) // 2, (side - height) // 2
    cols = {int((x + ox + 0.5) * 12 / side) for x in range(width)}
    rows = {int((y + oy + 0.5) * 12 / side) for y in range(height)}
    outside = np.ones((12, 12), dtype=bool)
    outside[np.ix_(sorted(rows), sorted(cols))] = False
    assert not grid[outside].any()
    top = top_cells(grid)
    assert len(top) == 3 and grid.ravel()[top[0] - 1] == grid.max()


def test_bad_manifest_lines_are_listed(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"image": "a.png", "question": "q?", "map": "m.png"}\n{broken\n{"image": "a.png", "map": "m.png"}\n'
    )
    with pytest.raises(ValueError) as error:
        build_attention_set(manifest)
    assert "line 2: not valid JSON" in str(error.value) and "line 3: needs string fields ['question']" in str(
        error.value
    )


def test_missing_files_empty_maps_and_repeated_ids_are_errors(small_set, tmp_path):
    lines = [json.loads(line) for line in small_set.read_text().splitlines()]
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text(json.dumps({**lines[1], "map": "maps/absent.png"}) + "\n")
    with pytest.raises(FileNotFoundError, match="absent.png"):
        build_attention_set(manifest)
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(tmp_path / "maps" / "empty.png")
    manifest.write_text(json.dumps(lines[1]) + "\n" + json.dumps({**lines[2], "map": "maps/empty.png"}) + "\n")
    with pytest.raises(ValueError, match="line 2: .*not all 0"):
        build_attention_set(manifest)
    manifest.write_text("\n".join(json.dumps({**lines[1], "question_id": "same"}) for _ in range(2)) + "\n")
    with pytest.raises(ValueError, match="must be unique"):
        build_attention_set(manifest)
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        build_attention_set(tmp_path / "absent.jsonl")


def test_cli_builds_an_attention_set(small_set, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build", "baselines"))
    out = tmp_path / "vqahat"
    argv = ["build", "attention", "--manifest", str(small_set), "--source", "hand-made", "--out", str(out)]
    assert cli.main(argv) == 0
    assert load_from_disk(str(out))["test"].num_rows == 3
    assert "built attention: 3 rows" in capsys.readouterr().out
    # the grid baselines read attention-map sets like the Patchwise set
    assert cli.main(["baselines", str(out)]) == 0
    assert "human_attention: 3 rows" in capsys.readouterr().out
