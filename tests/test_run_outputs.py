"""Outputs of different runs never overwrite each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WRITE = """
import json, sys
import numpy as np
from PIL import Image
from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.lmms.records import write_heatmap
from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.shapley import get_estimator

shade = int(sys.argv[2])
regions = regions_from_boxes([(0, 0, 4, 4), (4, 0, 4, 4)], (8, 8))
players = DocPlayers(regions=regions, target_index=0, target_region=regions[0])
plan = get_estimator("exact").plan(2, None, 0)
values = np.array([float(mask[0]) * shade + float(mask[1]) for mask in plan.masks])
attribution = get_estimator("exact").solve(plan, values)
image = Image.new("RGB", (8, 8), (shade * 40, 0, 0))
print(json.dumps(write_heatmap(sys.argv[1], "pixelshap_coco", "q-1", image, players, attribution)))
"""


def test_two_runs_sharing_an_output_path_keep_their_own_heatmaps(tmp_path):
    paths = [json.loads(subprocess.run([sys.executable, "-c", WRITE, str(tmp_path), str(shade)], check=True, capture_output=True, text=True).stdout)
             for shade in (1, 3)]
    assert paths[0] != paths[1] and all(p.startswith("pixelshap_heatmaps/") and p.endswith("/pixelshap_coco/q-1.png") for p in paths)
    first, second = (Path(tmp_path, p).read_bytes() for p in paths)
    assert first != second  # both runs' overlays are there, each its own


def _fake_run(folder: Path, model: str, stamp: str, recall: float) -> Path:
    (folder / model).mkdir(parents=True, exist_ok=True)
    results = folder / model / f"{stamp}_results.json"
    results.write_text(json.dumps({"results": {"pixelshap_synth": {"recall_at_1,none": recall}}, "config": {"model_args": model}}))
    row = {"doc_id": 0, "pixelshap": {"question_id": "q", "heatmap": f"pixelshap_heatmaps/{stamp}/pixelshap_synth/q.png"}}
    (folder / model / f"{stamp}_samples_pixelshap_synth.jsonl").write_text(json.dumps(row) + "\n")
    return results


def test_report_reads_the_newest_run_and_says_so_or_the_one_named(tmp_path, capsys):
    from pixelshap_eval.leaderboard.scores import load_run_scores
    from pixelshap_eval.report.runs import load_run

    older = _fake_run(tmp_path, "z-model", "20261201_100000", 0.25)  # alphabetically last model folder
    _fake_run(tmp_path, "a-model", "20261202_090000", 1.0)  # but the newest run
    run = load_run(tmp_path, "run")
    assert run.model == "a-model" and run.metrics["pixelshap_synth"]["recall_at_1"].value == 1.0
    assert "using a-model/20261202_090000_results.json, the newest of 2 results files" in capsys.readouterr().err
    chosen = load_run(older, "run")
    assert chosen.model == "z-model" and chosen.root == tmp_path
    assert chosen.heatmap_path(chosen.samples["pixelshap_synth"][0]["pixelshap"]) == tmp_path / "pixelshap_heatmaps/20261201_100000/pixelshap_synth/q.png"
    assert capsys.readouterr().err == ""  # an explicit choice needs no announcement
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    with pytest.raises(FileNotFoundError, match="is not an lmms-eval results file"):
        load_run(notes, "run")
    with pytest.raises(ValueError, match=r"z-model/20261201_100000_results.json holds no pixelshap task"):
        load_run_scores(older)  # the leaderboard reads the file named, too
