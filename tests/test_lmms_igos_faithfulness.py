"""iGOS rankings through the project's own deletion/insertion curves: an iGOS run's samples
file is accepted by the faithfulness follow-ups (real `lmms-eval` command, toy model), on the
synthetic scenes (objects) and on the package photos (3x3 grid, no target)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from lmms_runs import run_lmms

from pixelshap_eval.data.photos import build_photos_set
from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

# tiny optimisation; every answer token kept, so the toy model's photo answers are not skipped
FAST = {"mask_size": 8, "ig_steps": 2, "iterations": 2, "threshold": -1000.0, "single_token_ratio": 1.0}
MODEL = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},device=cpu,dtype=float32"]


@pytest.mark.e2e
def test_igos_rankings_get_the_projects_curves(tmp_path):
    data = tmp_path / "data"
    build_synth_set(1, 0, toy_question_types()).save(data / "synth")
    build_photos_set(("coffee",)).save(data / "photos")
    settings = tmp_path / "igos.yaml"
    settings.write_text(yaml.safe_dump({"pixelshap_synth_igos": {"igos": FAST}, "pixelshap_photos_igos": {"igos": FAST}}))
    igos_tasks = ["pixelshap_synth_igos", "pixelshap_photos_igos"]
    first = run_lmms([*MODEL, "--tasks", ",".join(igos_tasks), "--limit", "2"], tmp_path / "igos",
                     {"PIXELSHAP_DATA_DIR": str(data), "PIXELSHAP_CONFIG": str(settings)})
    assert first.metric("pixelshap_photos_igos", "documents_scored") == 1
    assert np.isfinite(first.metric("pixelshap_photos_igos", "igos_insertion_auc"))
    assert "recall_at_1,none" not in first.results["results"]["pixelshap_photos_igos"]  # no target on a photo
    samples = {task: next((tmp_path / "igos").glob(f"*/*_samples_{task}.jsonl")) for task in igos_tasks}
    spec = ",".join(f"{task.replace('_igos', '_faithfulness')}.rankings={path}" for task, path in samples.items())
    follow_ups = [task.replace("_igos", "_faithfulness") for task in igos_tasks]
    second = run_lmms([*MODEL, "--tasks", ",".join(follow_ups)], tmp_path / "curves",
                      {"PIXELSHAP_DATA_DIR": str(data), "PIXELSHAP_CONFIG": spec})
    for igos_task, task in zip(igos_tasks, follow_ups):
        given = {r["question_id"]: r["ranking"] for r in first.records(igos_task) if "ranking" in r}
        records = second.records(task)
        assert given and {r["question_id"] for r in records} == set(given)
        for record in records:
            assert record["ranking"] == given[record["question_id"]] and record["estimator"] == "faithfulness-curves"
            assert record["n_calls"] <= 2 * len(record["ranking"])  # the curves' coalitions, nothing more
        for name in ("deletion_auc", "insertion_auc"):
            assert 0.0 <= second.metric(task, name) <= 1.0 + 1e-9, (task, name)
    assert len(second.records("pixelshap_photos_faithfulness")[0]["ranking"]) == 9
