"""The report plots every per-layer metric against the layer, inline, and only when a run has one."""

from __future__ import annotations

import re
from pathlib import Path

from pixelshap_eval.report.html import render_report
from pixelshap_eval.report.layer_plot import first_best_layer, layer_series
from pixelshap_eval.report.runs import Metric, RunOutput

TASK = "pixelshap_synth_layerwise"


def _run(label: str, metrics: dict[str, Metric]) -> RunOutput:
    return RunOutput(label=label, root=Path("."), metrics={TASK: metrics}, samples={}, higher_is_better={}, model="m")


def test_per_layer_metrics_become_one_line_per_run(tmp_path):
    trained = _run("trained", {"recall_at_1": Metric(1.0, 0.0), **{f"recall_at_1_layer_{n:02d}": Metric(v, 0.1) for n, v in ((3, 1.0), (1, 0.2), (2, 0.6))}})
    control = _run("control", {f"recall_at_1_layer_{n:02d}": Metric(0.25, None) for n in (1, 2, 3)})
    series = layer_series([trained, control], TASK)
    assert list(series) == ["recall_at_1"] and sorted(series["recall_at_1"][0]) == [1, 2, 3]
    text = render_report([trained, control], tmp_path / "r.html", title="t").read_text()
    assert "<h2>Metrics by layer</h2>" in text and text.count("<svg") == 1
    assert text.count("<polyline") == 2 and text.count("<circle") == 6
    assert "trained, layer 2: 0.600" in text and "control, layer 3: 0.250" in text
    trained_line = re.findall(r'<polyline[^>]*points="([^"]+)"', text)[0].split()
    xs, ys = zip(*((float(a), float(b)) for a, b in (p.split(",") for p in trained_line)))
    assert list(xs) == sorted(xs) and ys[0] > ys[1] > ys[2]  # layers left to right; a higher value is drawn higher
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "trained (best 1.000 from layer 3)" in text and "control (best 0.250 from layer 1)" in text


def test_the_first_best_layer_follows_the_metrics_direction():
    points = {1: Metric(0.3, None), 2: Metric(0.9, None), 3: Metric(0.9, None), 4: Metric(float("nan"), None)}
    assert first_best_layer(points) == 2
    assert first_best_layer(points, higher=False) == 1
    assert first_best_layer({}) is None


def test_no_section_without_per_layer_metrics(tmp_path):
    text = render_report([_run("plain", {"recall_at_1": Metric(1.0, 0.0)})], tmp_path / "r.html", title="t").read_text()
    assert "Metrics by layer" not in text and "<svg" not in text
