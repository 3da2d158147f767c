"""The metrics as `evaluate` modules: loadable offline from the package, and equal to the task's
numbers on the demo's toy-model run (the same code computes both)."""

from __future__ import annotations

import os

import evaluate
import numpy as np
import pytest
from datasets import load_from_disk

from pixelshap_eval.data.schema import object_regions
from pixelshap_eval.evaluate_metrics import MODULES, module_path
from pixelshap_eval.metrics import deletion_coalitions, human_patch_scores, insertion_coalitions, ranking
from pixelshap_eval.shapley import get_estimator


@pytest.fixture(scope="module")
def synth_rows(demo_runs):
    assert os.environ["HF_EVALUATE_OFFLINE"] == "1"
    rows = [row for row in demo_runs.runs[0].samples["pixelshap_synth"] if "values" in row["pixelshap"]]
    assert rows
    return rows


def records(rows):
    return [row["pixelshap"] for row in rows]


def test_every_module_loads_offline_with_its_card():
    for name in MODULES:
        module = evaluate.load(module_path(name))
        assert module.description and os.path.isfile(os.path.join(module_path(name), "README.md"))
    with pytest.raises(ValueError, match="no pixelshap evaluate module"):
        module_path("accuracy")


def test_recall_and_box_iou_equal_the_task(synth_rows):
    recs = records(synth_rows)
    recall = evaluate.load(module_path("pixelshap_recall_at_k"))
    for k in (1, 2, 3):
        got = recall.compute(predictions=[r["values"] for r in recs], references=[r["target_index"] for r in recs], k=k)
        assert got[f"recall_at_{k}"] == pytest.approx(np.mean([row[f"recall_at_{k}"] for row in synth_rows]))
    iou = evaluate.load(module_path("pixelshap_iou_at_1")).compute(
        predictions=[r["values"] for r in recs], references=[r["target_index"] for r in recs],
        boxes=[[p["box"] for p in r["players"]] for r in recs], image_sizes=[r["image_size"] for r in recs],
    )
    assert iou["box_iou_at_1"] == pytest.approx(np.mean([row["box_iou_at_1"] for row in synth_rows]))


def test_mask_iou_equals_the_task_with_the_sets_masks(synth_rows, demo_runs):
    data = load_from_disk(str(demo_runs.runs[0].root.parent.parent / "data" / "synth"))["test"]
    by_id = {row["question_id"]: row for row in data}
    recs = records(synth_rows)
    regions = [object_regions(by_id[r["question_id"]]) for r in recs]
    assert all([list(reg.box) for reg in rs] == [p["box"] for p in r["players"]] for rs, r in zip(regions, recs))
    iou = evaluate.load(module_path("pixelshap_iou_at_1")).compute(
        predictions=[r["values"] for r in recs], references=[r["target_index"] for r in recs],
        boxes=[[p["box"] for p in r["players"]] for r in recs], image_sizes=[r["image_size"] for r in recs],
        masks=[[reg.mask for reg in rs] for rs in regions],
    )
    assert iou["iou_at_1"] == pytest.approx(np.mean([row["iou_at_1"] for row in synth_rows]))


def test_similarity_drop_and_curves_equal_the_task(synth_rows):
    recs = records(synth_rows)
    n = [r["n_players"] for r in recs]
    drop = evaluate.load(module_path("pixelshap_similarity_drop")).compute(
        predictions=[r["values"] for r in recs],
        value_full=[r["coalition_values"][1] for r in recs],
        loo_values=[r["coalition_values"][2 : k + 2] for r, k in zip(recs, n)],
    )
    assert drop["similarity_drop"] == pytest.approx(np.mean([row["similarity_drop"] for row in synth_rows]))
    curves = evaluate.load(module_path("pixelshap_curve_auc"))
    for kind, coalitions in (("deletion", deletion_coalitions), ("insertion", insertion_coalitions)):
        predictions = []
        for r in recs:  # the task's exact plan holds every coalition: read the curve off it
            plan = get_estimator("exact").plan(r["n_players"], None, 0)
            rows = [plan.index_of(mask) for mask in coalitions(ranking(r["values"]))]
            predictions.append([r["coalition_values"][i] for i in rows])
        got = curves.compute(predictions=predictions, kind=kind)
        assert got[f"{kind}_auc"] == pytest.approx(np.mean([row[f"{kind}_auc"] for row in synth_rows]))


def test_human_patch_module_is_the_task_function():
    rng = np.random.default_rng(0)
    values = [rng.normal(size=144).tolist() for _ in range(5)]
    patches = [[int(p) for p in rng.choice(np.arange(1, 145), 3, replace=False)] for _ in range(5)]
    patches[0] = [int(np.argmax(values[0])) + 1, 0, 0]
    got = evaluate.load(module_path("pixelshap_human_patches")).compute(predictions=values, references=patches)
    expected = [human_patch_scores(v, p, k=3) for v, p in zip(values, patches)]
    assert got == pytest.approx({name: np.mean([e[name] for e in expected]) for name in expected[0]})
    assert got["hit_at_3"] >= 0.2
