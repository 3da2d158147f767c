"""The main job end to end at a reduced size: the shipped toy model and its re-initialised copy
through the real lmms-eval pipeline, the randomisation check, and the report in Chromium."""

from __future__ import annotations

import pytest
from test_report import screenshot

from pixelshap_eval.demo import DemoSettings, run_demo, summary_lines

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(DemoSettings(out=tmp_path_factory.mktemp("demo"), scenes_per_type=3, photos=("chelsea",)))


def test_trained_toy_model_finds_the_target(demo):
    trained, _ = demo.runs
    assert trained.metrics["pixelshap_synth"]["recall_at_1"].value >= 0.9
    assert trained.metrics["pixelshap_synth_kernel"]["recall_at_1"].value >= 0.9
    assert trained.metrics["pixelshap_synth"]["deletion_auc"].value < trained.metrics["pixelshap_synth"]["insertion_auc"].value


def test_model_randomisation_check_is_at_chance(demo):
    _, randomized = demo.runs
    for task in ("pixelshap_synth", "pixelshap_synth_kernel"):
        assert randomized.metrics[task]["recall_at_1"].value <= demo.chance_recall_at_1 + 0.1
    assert 0.1 < demo.chance_recall_at_1 < 0.5


def test_run_folders_hold_results_samples_and_heatmaps(demo):
    for run in demo.runs:
        assert set(run.samples) == {"pixelshap_synth", "pixelshap_synth_kernel", "pixelshap_photos"}
        records = [row["pixelshap"] for row in run.samples["pixelshap_synth"]]
        assert len(records) == 12
        assert all(run.heatmap_path(r).is_file() for r in records if "values" in r)
    lines = summary_lines(demo)
    assert any("recall_at_1" in line for line in lines)
    trained, randomized = demo.runs
    assert trained.label in lines[0] and randomized.label in lines[0]
    row = next(line for line in lines if line.split()[:2] == ["pixelshap_synth", "recall_at_1"])
    for run in demo.runs:  # each run's Recall@1 as the results JSON holds it
        assert f"{run.metrics['pixelshap_synth']['recall_at_1'].value:.3f}" in row
    assert lines[-1] == f"chance Recall@1 on the synthetic scenes: {demo.chance_recall_at_1:.3f}"


def test_report_shows_both_models_and_renders(demo, tmp_path):
    text = demo.report.read_text()
    assert "trained toy model" in text and "re-initialised weights" in text and "pixelshap_photos" in text
    pixels = screenshot(demo.report, tmp_path / "demo.png")
    assert pixels.std() > 20
