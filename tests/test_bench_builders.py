"""scripts/bench_builders.py measures what it says: its replicated COCO inputs are valid and
build to the source's rows once per copy, and one measured build reports its rows and peaks."""

from __future__ import annotations

import json

import pytest
from script_modules import load_script

from pixelshap_eval.data.coco import build_coco_set


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_builders")


def test_replicated_inputs_build_every_copy_under_new_ids(bench, shared_data, tmp_path, coco_rows):
    annotations, images = bench.replicate(shared_data / "coco_tiny", 3, tmp_path)
    data = json.loads(annotations.read_text())
    assert len({image["id"] for image in data["images"]}) == len(data["images"]) == 240
    assert len({a["id"] for a in data["annotations"]}) == len(data["annotations"])
    assert all(not path.is_symlink() for path in images.iterdir())
    rows = build_coco_set(annotations, images, split="bench").dataset["test"]
    assert rows.num_rows == 3 * coco_rows.num_rows and len(set(rows["question_id"])) == rows.num_rows


def test_one_measured_build_reports_its_rows_and_peaks(bench, shared_data, tmp_path, coco_rows):
    annotations, images = bench.replicate(shared_data / "coco_tiny", 1, tmp_path)
    peak = bench.measure(annotations, images, tmp_path / "out", None)
    assert peak.rows == coco_rows.num_rows
    assert 50 < peak.anon_mb <= peak.rss_mb < 4000 and peak.seconds > 0
    assert (tmp_path / "out" / "dataset_dict.json").is_file()
