"""Heatmap overlays and the self-contained HTML report (rendered by headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.report.heatmap import TARGET_COLOUR, TOP_COLOUR, overlay, save_overlay, value_map
from pixelshap_eval.report.html import render_report
from pixelshap_eval.report.runs import load_run

SIZE = (80, 60)


@pytest.fixture
def scene():
    image = Image.new("RGB", SIZE, (200, 200, 200))
    regions = regions_from_boxes([(0, 0, 40, 60), (40, 0, 40, 30)], SIZE, labels=["left", "top right"])
    return image, regions


def test_value_map_paints_each_region_with_its_value(scene):
    _, regions = scene
    painted = value_map([0.5, -0.25], regions, SIZE)
    assert painted[10, 10] == 0.5 and painted[10, 60] == -0.25 and painted[50, 60] == 0.0


def test_overlay_colours_and_boxes(scene):
    image, regions = scene
    result = np.asarray(overlay(image, [1.0, -1.0], regions, target_box=(40, 0, 40, 30), max_side=None)).astype(int)
    assert result.shape == (SIZE[1], SIZE[0], 3)
    left, right = result[30, 20], result[20, 60]
    assert left[0] > left[2] and right[2] > right[0]  # positive is red, negative blue
    np.testing.assert_array_equal(result[50, 70], [200, 200, 200])  # pixels of no player stay as they were
    assert tuple(result[0, 60]) == TARGET_COLOUR  # target box edge
    assert tuple(result[59, 0]) == TOP_COLOUR or tuple(result[0, 0]) == TOP_COLOUR  # dashed top-player box
    np.testing.assert_array_equal(np.asarray(image), np.full((SIZE[1], SIZE[0], 3), 200))  # input untouched


def test_no_top_box_when_every_value_ties(scene):
    image, regions = scene
    result = np.asarray(overlay(image, [0.0, 0.0], regions, max_side=None))
    assert not np.all(result == np.array(TOP_COLOUR), axis=-1).any()


def test_overlay_rejects_mismatched_values(scene):
    image, regions = scene
    with pytest.raises(ValueError, match="one value per region"):
        overlay(image, [1.0], regions)


def write_run(root: Path, label_values: list[float], answer: str, std_errors: list | None = None) -> Path:
    """A run folder laid out as lmms-eval writes it, with one pixelshap sample."""
    image = Image.new("RGB", SIZE, (120, 160, 200))
    regions = regions_from_boxes([(0, 0, 40, 60), (40, 0, 40, 30)], SIZE, labels=["left", "top right"])
    save_overlay(root / "pixelshap_heatmaps" / "pixelshap_coco" / "q1.png", image, label_values, regions, target_box=(40, 0, 40, 30))
    folder = root / "model"
    folder.mkdir(parents=True)
    results = {
        "results": {"pixelshap_coco": {"alias": "pixelshap_coco", "recall_at_1,none": 0.75, "recall_at_1_stderr,none": 0.05}},
        "higher_is_better": {"pixelshap_coco": {"recall_at_1": True}},
        "config": {"model_args": "pretrained=fake"},
    }
    (folder / "20260101_000000_results.json").write_text(json.dumps(results))
    record = {
        "question_id": "q1", "question": "What is at the top right?", "full_answer": answer, "players": [
            {"label": "left", "box": [0, 0, 40, 60]}, {"label": "top right", "box": [40, 0, 40, 30]}],
        "values": label_values, "std_errors": [0.01, 0.02] if std_errors is None else std_errors, "ranking": [int(np.argmax(label_values)), int(np.argmin(label_values))],
        "target_label": "top right", "target_box": [40, 0, 40, 30], "n_calls": 4, "estimator": "exact",
        "heatmap": "pixelshap_heatmaps/pixelshap_coco/q1.png",
    }
    (folder / "20260101_000000_samples_pixelshap_coco.jsonl").write_text(json.dumps({"doc_id": 0, "pixelshap": record}) + "\n")
    return root


@pytest.fixture
def report(tmp_path) -> Path:
    trained = load_run(write_run(tmp_path / "a", [0.2, 0.7], "blue"), "trained")
    control = load_run(write_run(tmp_path / "b", [0.0, 0.0], "::"), "control")
    originals = {"q1": Image.new("RGB", SIZE, (120, 160, 200))}
    return render_report([trained, control], tmp_path / "report" / "index.html", title="Test report", originals=originals)


def test_report_is_self_contained_and_shows_the_runs(report):
    text = report.read_text()
    assert "<h1>Test report</h1>" in text and "recall_at_1 ↑" in text
    assert "0.750" in text and "± 0.050" in text
    assert text.count('src="data:image/png;base64,') == 3  # the original and one overlay per run
    assert not re.search(r'(src|href)="(?!data:)', text), "the report must not reference any outside file or URL"
    assert "top: top right (0.700 ± 0.020)" in text and "answer: “blue”" in text
    assert "all values equal (0.000): no player ranked first" in text  # the control run ranks nothing


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_caption_says_when_the_budget_gave_no_standard_error(tmp_path, missing):
    run = load_run(write_run(tmp_path / "a", [0.2, 0.66], "blue", std_errors=[missing, missing]), "pixelshap")
    text = render_report([run], tmp_path / "report" / "index.html", title="t", originals={}).read_text()
    assert "top: top right (0.660)" in text and "no standard error at this budget" in text
    assert "nan" not in re.sub(r"base64,[^\"]*", "", text).lower()


def test_load_run_needs_results(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lmms-eval results"):
        load_run(tmp_path, "empty")


def screenshot(html: Path, out: Path) -> np.ndarray:
    """Render `html` in headless Chromium (no network) and return the screenshot's pixels."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is needed to render the report: scripts/run.sh test installs it"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={out.parent / 'chromium-profile'}", "--hide-scrollbars", "--window-size=1100,900",
         f"--screenshot={out}", html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def test_report_renders_in_headless_chromium(report, tmp_path):
    pixels = screenshot(report, tmp_path / "shot.png")
    assert pixels.shape[:2] == (900, 1100)
    assert pixels.std() > 20, "the screenshot is blank"
    dark_text = (pixels.sum(axis=-1) < 200).mean()
    coloured = (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).mean()  # red/blue overlay pixels
    assert dark_text > 0.002 and coloured > 0.002
