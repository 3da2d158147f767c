"""The report shows an iGOS run's raw coarse mask(s) beside its pooled heatmap."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from test_report import SIZE, write_run

from pixelshap_eval.report.html import render_report
from pixelshap_eval.report.igos_masks import MASK_SIDE, igos_mask_pictures, mask_image
from pixelshap_eval.report.runs import load_run


def _pictures(text: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def _igos_run(root, masks: list[np.ndarray], product: np.ndarray, variant: str):
    write_run(root, [0.2, 0.7], "blue")
    samples = root / "model" / "20260101_000000_samples_pixelshap_coco.jsonl"
    row = json.loads(samples.read_text())
    row["pixelshap"].update({
        "estimator": variant, "image_size": list(SIZE), "mask": product.tolist(), "masks": [m.tolist() for m in masks],
    })
    samples.write_text(json.dumps(row) + "\n")
    return load_run(root, variant)


def test_mask_image_keeps_the_cells_and_the_images_shape():
    mask = np.ones((4, 4))
    mask[0, 3] = 0.0
    picture = np.asarray(mask_image(mask, SIZE))
    assert picture.shape == (round(SIZE[1] * MASK_SIDE / SIZE[0]), MASK_SIDE)  # 80 x 60 image -> 240 x 180
    assert picture[0, -1] == 0 and picture[0, 0] == 255 and picture[-1, -1] == 255  # top-right cell deleted
    assert set(np.unique(picture)) == {0, 255}  # nearest: no blending between cells
    with pytest.raises(ValueError, match="2-d grid"):
        mask_image([0.5, 0.5])


def test_igos_plus_plus_shows_both_masks_and_their_product(tmp_path):
    deletion, insertion = np.ones((4, 4)), np.ones((4, 4))
    deletion[0, 0], insertion[3, 3] = 0.0, 0.0
    run = _igos_run(tmp_path / "a", [deletion, insertion], deletion * insertion, "igos++")
    text = render_report([run], tmp_path / "report.html", title="t").read_text()
    for name in ("deletion mask", "insertion mask", "product (pooled)"):
        assert f"iGOS {name}, 4×4 cells" in text
    heatmap, first, second, product = _pictures(text)
    assert heatmap.ndim == 3 and first.ndim == 2  # the overlay, then the greyscale masks
    assert first[0, 0] == 0 and first[-1, -1] == 255 and second[-1, -1] == 0 and second[0, 0] == 255
    assert product[0, 0] == 0 and product[-1, -1] == 0


def test_igos_plus_shows_its_one_mask_and_shapley_runs_none(tmp_path):
    mask = np.full((2, 2), 0.5)
    igos = _igos_run(tmp_path / "a", [mask], mask, "igos+")
    shapley = load_run(write_run(tmp_path / "b", [0.2, 0.7], "blue"), "shapley")
    text = render_report([igos, shapley], tmp_path / "report.html", title="t").read_text()
    assert text.count("iGOS mask (pooled), 2×2 cells") == 1 and "deletion mask" not in text
    assert len(_pictures(text)) == 3  # two overlays and one mask
    assert igos_mask_pictures({"skipped": "no visually relevant token"}) == []


def test_a_shapley_run_and_an_igos_run_of_other_tasks_both_show_their_documents(tmp_path):
    mask = np.full((2, 2), 0.5)
    _igos_run(tmp_path / "a", [mask], mask, "igos+")
    samples = next((tmp_path / "a" / "model").glob("*_samples_*.jsonl"))
    samples.rename(samples.with_name("20260101_000000_samples_pixelshap_coco_igos.jsonl"))
    igos = load_run(tmp_path / "a", "igos+")
    shapley = load_run(write_run(tmp_path / "b", [0.2, 0.7], "blue"), "shapley")
    text = render_report([shapley, igos], tmp_path / "report.html", title="t").read_text()
    assert "No sample rows" not in text and "iGOS mask (pooled)" in text
    assert len(_pictures(text)) == 3  # each task's card: its run's overlay; the iGOS one also its mask
