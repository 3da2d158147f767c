"""Bad input to the builders: each case is refused with one message naming the item (the
default), or, with skip_invalid / --skip-invalid, skipped and counted in the summary and card.
Built on the real coco_tiny and Patchwise images, broken in the ways users' data breaks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from pixelshap_eval import cli
from pixelshap_eval.data.attention import build_attention_set
from pixelshap_eval.data.checks import InvalidInput, box_problem, check_output_location, confined_path, decode_image
from pixelshap_eval.data.coco import build_coco_set
from pixelshap_eval.data.human import build_human_set


@pytest.fixture(scope="module")
def coco(shared_data: Path, tmp_path_factory) -> tuple[dict, Path]:
    """The first 6 images of coco_tiny val2017 that yield questions, copied into a folder we may break."""
    source = shared_data / "coco_tiny"
    data = json.loads((source / "annotations" / "instances_val2017.json").read_text())
    built = build_coco_set(source / "annotations" / "instances_val2017.json", source / "val2017", limit=12)
    ids = list(dict.fromkeys(built.dataset["test"]["image_id"]))[:6]
    folder = tmp_path_factory.mktemp("coco-images")
    images = [image for image in data["images"] if image["id"] in ids]
    for image in images:
        shutil.copy(source / "val2017" / image["file_name"], folder / image["file_name"])
    subset = {"images": images, "annotations": [a for a in data["annotations"] if a["image_id"] in ids], "categories": data["categories"]}
    return subset, folder


def _variant(coco, tmp_path: Path, change) -> tuple[Path, Path, dict]:
    """A copy of the subset and its images with `change(data, folder)` applied."""
    data, source_folder = json.loads(json.dumps(coco[0])), coco[1]
    folder = tmp_path / "images"
    shutil.copytree(source_folder, folder)
    change(data, folder)
    path = tmp_path / "instances_val2017.json"
    path.write_text(json.dumps(data))
    return path, folder, data


def _first_annotation(data: dict, image_index: int = 0) -> dict:
    image_id = data["images"][image_index]["id"]
    return next(a for a in data["annotations"] if a["image_id"] == image_id and not a.get("iscrowd"))


def _truncate(data, folder):
    path = folder / data["images"][0]["file_name"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty_file(data, folder):
    (folder / data["images"][0]["file_name"]).write_bytes(b"")


def _bomb(data, folder):
    name = data["images"][0]["file_name"]
    Image.new("1", (20000, 10000)).save(folder / name, format="PNG")  # 200 Mpx, refused before decoding


def _box(values):
    def change(data, folder):
        _first_annotation(data)["bbox"] = values
    return change


def _polygon(values):
    def change(data, folder):
        _first_annotation(data)["segmentation"] = [values]
    return change


def _listed_twice(data, folder):
    data["images"].append(dict(data["images"][0]))


def _shared_id(data, folder):
    data["images"][1]["id"] = data["images"][0]["id"]


def _escape(data, folder):
    data["images"][0]["file_name"] = "../../../../etc/passwd"


def _no_bbox(data, folder):
    del _first_annotation(data)["bbox"]


def _no_width(data, folder):
    del data["images"][0]["width"]


CASES = {
    # case: (change, kind counted when skipping, words the refusal must contain)
    "truncated jpeg": (_truncate, "image that does not decode", "does not decode"),
    "zero-byte image": (_empty_file, "image that does not decode", "empty (0 bytes)"),
    "decompression bomb": (_bomb, "image that does not decode", "decompression bomb"),
    "box outside the image": (_box([600.0, 10.0, 200.0, 50.0]), "annotation with an invalid bbox", "outside the"),
    "negative box": (_box([10.0, 10.0, -5.0, 20.0]), "annotation with an invalid bbox", "zero or negative size"),
    "zero-size box": (_box([10.0, 10.0, 0.0, 20.0]), "annotation with an invalid bbox", "zero or negative size"),
    "NaN box": (_box([10.0, float("nan"), 5.0, 20.0]), "annotation with an invalid bbox", "non-finite"),
    "odd-length polygon": (_polygon([10.0, 10.0, 50.0, 10.0, 50.0, 50.0, 10.0]), "annotation with an invalid polygon", "even number"),
    "one-point polygon": (_polygon([10.0, 10.0]), "annotation with an invalid polygon", "at least 6"),
    "image listed twice": (_listed_twice, "image listed twice", "remove the repeated entries"),
    "two files sharing an id": (_shared_id, "image id shared by different files", "give each file its own id"),
    "file_name leaving the folder": (_escape, "file_name outside the image folder", "relative to the image folder"),
    "annotation without bbox": (_no_bbox, "annotation without a bbox", "no bbox"),
    "image without width": (_no_width, "image entry without an integer id, a file_name and a positive width and height", "complete the entry"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_coco_input_is_refused_by_default_naming_the_item(coco, tmp_path, case):
    change, _, words = CASES[case]
    annotations, folder, _ = _variant(coco, tmp_path, change)
    with pytest.raises(InvalidInput) as error:
        build_coco_set(annotations, folder, split="val2017")
    message = str(error.value)
    assert words in message and "--skip-invalid" in message
    assert "\n" not in message  # one line


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_coco_input_is_skipped_and_counted_when_asked(coco, tmp_path, case):
    change, kind, _ = CASES[case]
    annotations, folder, data = _variant(coco, tmp_path, change)
    clean = build_coco_set(*_variant(coco, tmp_path / "clean", lambda d, f: None)[:2], split="val2017")
    built = build_coco_set(annotations, folder, split="val2017", skip_invalid=True)
    key = f"skipped (invalid input): {kind}"
    assert built.stats[key] >= 1 and f"| {key} | {built.stats[key]} |" in built.card
    rows = built.dataset["test"]
    assert len(set(rows["question_id"])) == len(rows)  # never a duplicate question
    assert len(rows) < len(clean.dataset["test"]) or case == "image listed twice"
    clean_rows = {row["question_id"]: row for row in clean.dataset["test"]}
    for row in rows:  # whatever is kept is exactly what a clean build gives
        assert row["objects"] == clean_rows[row["question_id"]]["objects"]
        assert row["image"].tobytes() == clean_rows[row["question_id"]]["image"].tobytes()


def test_cli_refuses_with_one_line_and_skips_with_the_flag(coco, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build",))
    annotations, folder, _ = _variant(coco, tmp_path, _truncate)
    assert cli.main(["build", "coco", "--annotations", str(annotations), "--images", str(folder), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pixelshap-eval build coco: image ") and "does not decode" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a").exists()
    assert cli.main(["build", "coco", "--annotations", str(annotations), "--images", str(folder), "--out", str(tmp_path / "b"), "--skip-invalid"]) == 0
    assert "skipped (invalid input): image that does not decode: 1" in capsys.readouterr().out


def test_bad_output_location_fails_before_any_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="lies below the file"):
        check_output_location(tmp_path / "file" / "set")
    with pytest.raises(PermissionError, match="cannot write in /sys"):
        check_output_location(Path("/sys/pixelshap-set"))
    check_output_location(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build",))
    monkeypatch.setattr("pixelshap_eval.commands.build.build_synth_set", lambda *a: pytest.fail("built before checking --out"))
    assert cli.main(["build", "synth", "--n", "1", "--out", str(tmp_path / "file" / "set")]) == 2
    assert "lies below the file" in capsys.readouterr().err


def test_checks_on_their_own():
    assert confined_path(Path("/data/images"), "a/b.jpg") == Path("/data/images/a/b.jpg")
    for bad in ("../x.jpg", "/etc/passwd", "a/../../x", "", None, 3):
        assert confined_path(Path("/data/images"), bad) is None
    assert box_problem([0, 0, 10, 10], 10, 10) is None and box_problem([0.5, 0, 10.4, 10], 10, 10) is None
    assert "not 4 numbers" in box_problem([1, 2, 3], 10, 10) and "not 4 numbers" in box_problem("box", 10, 10)
    assert "not 4 numbers" in box_problem([True, 0, 1, 1], 10, 10)


def test_human_builder_decodes_every_image_and_confines_paths(shared_data, tmp_path):
    release = shared_data / "patchwise_human"
    lines, seen = [], set()
    for line in (release / "Human_Annotations.txt").read_text().splitlines()[1:]:
        if line.split()[0] not in seen and len(lines) < 3:
            seen.add(line.split()[0])
            lines.append(line)
    images = tmp_path / "images"
    images.mkdir()
    names = [line.split()[0] for line in lines]
    for name in names:
        shutil.copy(release / "images" / name, images / name)
    broken = images / names[0]
    broken.write_bytes(broken.read_bytes()[:200])
    escape = lines[2].replace(names[2], "../" + names[2], 1)
    path = tmp_path / "rows.txt"
    path.write_text("\n".join([lines[0], lines[1], escape]) + "\n")
    with pytest.raises(InvalidInput, match="image path outside the image folder"):
        build_human_set(path, images)
    path.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(InvalidInput, match="does not decode"):
        build_human_set(path, images)
    path.write_text("\n".join([lines[0], lines[1], escape]) + "\n")
    built = build_human_set(path, images, skip_invalid=True)
    assert built.dataset["test"]["image_file"] == [names[1]]
    assert built.stats["skipped (invalid input): image path outside the image folder"] == 1
    assert built.stats["skipped (invalid input): image that does not decode"] == 1


def test_attention_builder_decodes_every_image(shared_data, tmp_path):
    source = next((shared_data / "patchwise_human" / "images").iterdir())
    shutil.copy(source, tmp_path / "a.jpg")
    Image.new("L", (8, 8), 128).save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(source.read_bytes()[:300])
    manifest = tmp_path / "manifest.jsonl"
    rows = [{"image": "a.jpg", "question": "q", "map": "a.png"}, {"image": "b.jpg", "question": "q", "map": "a.png"}]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InvalidInput, match="line 2: image or map that does not decode"):
        build_attention_set(manifest)
    built = build_attention_set(manifest, skip_invalid=True)
    assert len(built.dataset["test"]) == 1 and built.stats["skipped (invalid input): image or map that does not decode"] == 1


def test_a_truncated_image_fails_even_when_a_library_tolerates_them(coco, tmp_path, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / "half.jpg"
    whole = next(coco[1].iterdir()).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="does not decode"):
        decode_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the global is left as it was


def test_decode_image_names_the_problem(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="does not decode as an image"):
        decode_image(tmp_path / "text.jpg")
    with pytest.raises(ValueError, match="cannot read it"):
        decode_image(tmp_path / "absent.jpg")
