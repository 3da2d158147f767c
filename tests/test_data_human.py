"""The Patchwise human-response builder on the real release: rows, cell geometry, maps, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelshap_eval import cli
from pixelshap_eval.data.human import (
    HUMAN_PROMPT,
    RANK_WEIGHTS,
    build_human_set,
    patch_boxes,
    rank_weighted_map,
    read_human_annotations,
)
from pixelshap_eval.data.schema import HUMAN_ATTENTION_FEATURES
from pixelshap_eval.players import grid_regions


@pytest.fixture(scope="module")
def release(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "patchwise_human"
    return folder / "Human_Annotations.txt", folder / "images"


def _source_rows(annotations: Path) -> list[str]:
    return [line for line in annotations.read_text().splitlines()[1:] if line.strip()]


def test_fixture_rows_round_trip_with_the_schema(human_set_dir, human_rows, release):
    reloaded = load_from_disk(str(human_set_dir))
    assert list(reloaded) == ["test"] and reloaded["test"].features == HUMAN_ATTENTION_FEATURES
    n_rows = human_rows.num_rows
    first_source_rows = _source_rows(release[0])[:n_rows]
    assert 0 < n_rows == len(first_source_rows)
    assert human_rows["image_file"] == [line.split()[0] for line in first_source_rows]
    card = (human_set_dir / "README.md").read_text()
    assert "Patchwise" in card and f"| rows | {n_rows} |" in card


def test_all_rows_are_kept_and_counted(release):
    lines = _source_rows(release[0])
    built = build_human_set(*release)
    rows = built.dataset["test"]
    assert rows.num_rows == len(lines) == built.stats["rows in file"]
    assert built.stats["images"] == len({line.split()[0] for line in lines})
    given_counts = [3 - line.split(" ; ")[1].split().count("0") for line in lines]
    assert [len(p) for p in rows["human_patches"]] == given_counts
    assert sorted(set(given_counts)) == [1, 2, 3]  # rows with fewer than three are kept


def test_rows_carry_the_paper_prompt_and_the_image(human_rows):
    row = human_rows[0]
    assert row["question"] == "Does this image show a 'snowboard'? (One word answer, please.)"
    assert row["answer"] == "Yes" and row["row_id"] == 1 and row["question_id"] == "patchwise-1"
    assert row["human_patches"] == [79, 67, 78]
    assert row["image"].size == (row["width"], row["height"]) == (640, 427)
    assert all(
        r["question"] == HUMAN_PROMPT.format(object=r["object_name"])
        for r in human_rows.select_columns(["question", "object_name"])
    )


# Hand-checked cells. A cell of the 12x12 grid on the padded square of side S = max(W, H)
# spans S/12 px; the image sits at offset ((S-W)//2, (S-H)//2); a pixel belongs to the cell
# holding its centre. Cell index k (1-based) is row (k-1)//12, column (k-1)%12.
@pytest.mark.parametrize(
    ("image_file", "row_id", "size", "boxes"),
    [
        # 640x427, offset y 106, cells of 53.33 px. 79 -> r6 c6: x 320..372, square y 320..373.3 -> y 214..266.
        # 67 -> r5 c6: square y 266.7..320 -> y 161..213. 78 -> r6 c5: x 266.7..320 -> 267..319.
        ("COCO_val2014_000000310196.jpg", 1, (640, 427), [(320, 214, 53, 53), (320, 161, 53, 53), (267, 214, 53, 53)]),
        # 369x520 (portrait, odd padding), offset x 75, cells of 43.33 px, so cells are 43 or 44 px.
        # 46 -> r3 c9: square x 390..433.3 -> x 315..357, y 130..172. 56 -> r4 c7: square x
        # 303.3..346.7 -> x 228..271, square y 173.3..216.7 -> y 173..216. 57 -> r4 c8: x 272..314.
        ("COCO_val2014_000000210789.jpg", 7, (369, 520), [(315, 130, 43, 43), (228, 173, 44, 44), (272, 173, 43, 44)]),
        # 428x640 (portrait), offset x 106, only two cells given ("82 81 0"). 82 -> r6 c9:
        # square x 480..533.3 -> x 374..426, y 320..372. 81 -> r6 c8: square x 426.7..480 -> x 321..373.
        ("COCO_val2014_000000157084.jpg", 109, (428, 640), [(374, 320, 53, 53), (321, 320, 53, 53)]),
    ],
)
def test_patch_indices_map_to_the_hand_checked_pixels(human_rows, image_file, row_id, size, boxes):
    row = next(r for r in human_rows if r["row_id"] == row_id)
    assert row["image_file"] == image_file and (row["width"], row["height"]) == size
    assert len(row["human_boxes"]) == len(row["human_patches"]) == len(boxes)
    assert [tuple(box) for box in row["human_boxes"]] == boxes
    # the same pixels as grid player (k - 1) of the padded grid used for attributions
    regions = grid_regions(size, 12, 12, pad_to_square=True)
    for patch, stored in zip(row["human_patches"], row["human_boxes"]):
        assert regions[patch - 1].box == tuple(stored)


def test_cells_in_the_padding_have_empty_boxes():
    # 428x640: columns 0 (square x 0..53.3) lie wholly in the 106-px left padding; column 1
    # (53.3..106.7) reaches only pixel x = 0 (centre 106.5 in the square).
    assert patch_boxes((1, 2), 428, 640) == [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 1.0, 53.0)]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(1, 144), min_size=1, max_size=3, unique=True))
def test_rank_weighted_map_sums_to_one_and_keeps_the_rank_order(patches):
    grid = rank_weighted_map(tuple(patches))
    flat = grid.ravel()
    assert grid.shape == (12, 12) and np.isclose(flat.sum(), 1.0)
    assert np.count_nonzero(flat) == len(patches)
    given_weights = flat[np.array(patches) - 1]
    assert np.allclose(
        given_weights / given_weights[-1], np.array(RANK_WEIGHTS[: len(patches)]) / RANK_WEIGHTS[len(patches) - 1]
    )


@settings(deadline=None, max_examples=40)
@given(width=st.integers(20, 700), height=st.integers(20, 700), cell=st.integers(1, 144))
def test_patch_box_covers_exactly_the_pixels_whose_centres_fall_in_the_cell(width, height, cell):
    side = max(width, height)
    ox, oy = (side - width) // 2, (side - height) // 2
    row, col = divmod(cell - 1, 12)
    xs = [x for x in range(width) if col * side <= (x + ox + 0.5) * 12 < (col + 1) * side]
    ys = [y for y in range(height) if row * side <= (y + oy + 0.5) * 12 < (row + 1) * side]
    expected = (xs[0], ys[0], len(xs), len(ys)) if xs and ys else (0, 0, 0, 0)
    assert patch_boxes((cell,), width, height) == [tuple(float(v) for v in expected)]


# --- bad input ------------------------------------------------------------------------------


def test_malformed_rows_are_reported_by_line_number(tmp_path, release):
    good = _source_rows(release[0])[:2]
    bad = [
        "COCO_val2014_000000310196.jpg snowboard 1 79 67 78",  # no ' ; '
        "COCO_val2014_000000310196.jpg snowboard 1 ; 79 67",  # two cells
        "COCO_val2014_000000310196.jpg snowboard x ; 79 67 78",  # ID not an integer
        "COCO_val2014_000000310196.jpg snowboard 5 ; 79 145 1",  # cell out of range
        "COCO_val2014_000000310196.jpg snowboard 6 ; 0 67 78",  # a cell after a 0
        "COCO_val2014_000000310196.jpg snowboard 7 ; 0 0 0",  # nothing given
        "COCO_val2014_000000310196.jpg snowboard 8 ; 79 79 1",  # repeated cell
    ]
    path = tmp_path / "Human_Annotations.txt"
    path.write_text("\n".join(["Image_Path Obj_Name ID First Second Third", *good, *bad]) + "\n")
    with pytest.raises(ValueError) as error:
        read_human_annotations(path)
    message = str(error.value)
    assert "7 malformed row(s)" in message
    for line in range(4, 11):
        assert f"line {line}:" in message
    assert "line 2:" not in message and "line 3:" not in message


def test_repeated_ids_are_rejected(tmp_path, release):
    line = _source_rows(release[0])[0]
    path = tmp_path / "rows.txt"
    path.write_text(f"{line}\n{line}\n")
    with pytest.raises(ValueError, match="IDs must be unique"):
        read_human_annotations(path)


def test_missing_image_or_file_is_a_clear_error(tmp_path, release):
    path = tmp_path / "rows.txt"
    path.write_text("COCO_val2014_000000000001.jpg dog 1 ; 5 6 7\n")
    with pytest.raises(FileNotFoundError, match="COCO_val2014_000000000001.jpg"):
        build_human_set(path, release[1])
    with pytest.raises(FileNotFoundError, match="human annotations file not found"):
        build_human_set(tmp_path / "absent.txt", release[1])


def test_cli_builds_the_first_rows(tmp_path, release, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build",))
    out = tmp_path / "human"
    argv = [
        "build",
        "human",
        "--annotations",
        str(release[0]),
        "--images",
        str(release[1]),
        "--limit",
        "5",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    assert load_from_disk(str(out))["test"].num_rows == 5
    assert "built human: 5 rows" in capsys.readouterr().out
    bad = tmp_path / "broken.txt"
    bad.write_text("COCO_val2014_000000310196.jpg snowboard 1 ; 79 67\n")
    assert cli.main([*argv[:3], str(bad), *argv[4:-1], str(tmp_path / "other")]) == 2
    assert "line 1:" in capsys.readouterr().err
