"""Model-free baselines on the built sets, checked against expectations computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from datasets import Dataset

from pixelshap_eval import cli
from pixelshap_eval.baselines import PAPER_RECALL_AT_1, human_attention_baselines, load_built_set, run_baselines


@pytest.fixture(scope="module")
def coco_report(coco_set_dir):
    return run_baselines(load_built_set(coco_set_dir))


def test_random_object_ranking_scores_its_exact_expectation(coco_report, coco_rows):
    n_objects = np.array([len(objects) for objects in coco_rows["objects"]], dtype=float)
    random = coco_report.scores["random"]
    for k in (1, 2, 3):
        assert random[f"recall_at_{k}"] == pytest.approx(np.mean(np.minimum(k, n_objects) / n_objects))
    assert coco_report.n_rows == coco_rows.num_rows and coco_report.kind == "object_importance"


def test_largest_object_recall_counts_targets_that_are_the_largest(coco_report, coco_rows):
    hits = []
    for objects, target in zip(coco_rows["objects"], coco_rows["target_index"]):
        areas = np.array([obj["area"] for obj in objects])
        largest = np.flatnonzero(areas == areas.max())
        hits.append((target in largest) / len(largest))
    assert coco_report.scores["largest_object"]["recall_at_1"] == pytest.approx(np.mean(hits))


def test_object_scores_are_ordered_as_their_definitions_demand(coco_report):
    for name, scores in coco_report.scores.items():
        assert 0 <= scores["recall_at_1"] <= scores["recall_at_2"] <= scores["recall_at_3"] <= 1, name
        # the top object is the target (IoU 1) at least as often as recall@1 says
        assert scores["iou_at_1"] >= scores["recall_at_1"] - 1e-12, name
        assert 0 <= scores["box_iou_at_1"] <= 1, name


def test_random_cell_ranking_scores_its_exact_expectation(human_set_dir, human_rows):
    report = run_baselines(load_built_set(human_set_dir))
    n_given = [len(patches) for patches in human_rows["human_patches"]]
    expected_hit = np.mean([1 - math.comb(144 - m, 3) / math.comb(144, 3) for m in n_given])
    assert report.kind == "human_attention" and report.n_rows == human_rows.num_rows
    assert report.scores["random"]["hit_at_3"] == pytest.approx(expected_hit)
    assert report.scores["random"]["precision_at_3"] == pytest.approx(3 / 144)


def test_centre_prior_on_hand_made_rows():
    # The 4 central cells of the 12x12 grid (1-based 66, 67, 78, 79) tie for the top, so a
    # human patch among them is in the top 3 with probability 3/4; a corner cell never is.
    rows = Dataset.from_dict({"width": [300, 300, 300], "height": [200, 200, 200], "human_patches": [[66], [1], []]})
    report = human_attention_baselines(rows)
    assert report.n_rows == 2 and report.n_skipped == 1
    assert report.scores["center_prior"]["hit_at_3"] == pytest.approx((0.75 + 0.0) / 2)


def test_cli_prints_the_table_with_the_paper_and_saves_json(coco_set_dir, coco_report, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("baselines",))
    out = tmp_path / "reports" / "baselines.json"
    assert cli.main(["baselines", str(coco_set_dir), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "central_object" in table and f"{PAPER_RECALL_AT_1['central_object']:.2f}" in table
    assert f"{100 * coco_report.scores['largest_object']['recall_at_1']:.2f}" in table
    saved = json.loads(out.read_text())
    assert saved["kind"] == "object_importance" and saved["scores"] == coco_report.scores
    assert saved["paper_recall_at_1_percent"] == PAPER_RECALL_AT_1


def test_cli_rejects_a_folder_that_is_not_a_built_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("baselines",))
    assert cli.main(["baselines", str(tmp_path)]) == 2
    assert "not a built set" in capsys.readouterr().err


def test_a_set_of_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="cannot tell the set's kind"):
        run_baselines(Dataset.from_dict({"question": ["q?"]}))
