"""The iGOS tasks through lmms-eval: the real `lmms-eval` command with the toy model answers
pixelshap_synth_igos (mask requests answered inside pixelshap_hf, JSON back, pooled scores ->
the usual metrics); the COCO and human tasks score a hand-made mask on the real data; any other
model's text answer is one clear error naming pixelshap_hf."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from lmms_runs import run_lmms
from PIL import ImageFile

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.lmms.igos_requests import IGOS_KEY, RESPONSE_FORMAT, parse_response
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

FAST = {"mask_size": 8, "ig_steps": 2, "iterations": 2}


def _response(mask: np.ndarray, **extra) -> str:
    return json.dumps({
        "format": RESPONSE_FORMAT, "answer": "red", "mask": mask.tolist(), "masks": [mask.tolist()], "positions": [0],
        "tokens": ["red"], "losses": [1.0], "igos_deletion_auc": 0.2, "igos_insertion_auc": 0.7, "model_passes": 9,
        "seconds": 0.1, **extra,
    })


def _task(monkeypatch, data_dir, name: str):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", ImageFile.LOAD_TRUNCATED_IMAGES)
    import lmms_eval.models  # noqa: F401
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PIXELSHAP_CONFIG", raising=False)
    (task,) = get_task_dict([name], TaskManager()).values()
    return task


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    build_synth_set(1, 0, toy_question_types()).save(data / "synth")
    return data


def test_a_text_answer_names_pixelshap_hf():
    with pytest.raises(RuntimeError, match="needs --model pixelshap_hf"):
        parse_response("red", "pixelshap_synth_igos")
    assert parse_response(json.dumps({"format": RESPONSE_FORMAT, "skipped": "why"}), "t").skipped == "why"


def test_requests_carry_the_settings_and_the_documents_seed(monkeypatch, synth_dir):
    task = _task(monkeypatch, synth_dir, "pixelshap_synth_igos")
    (request,) = task.construct_requests(0, "q", metadata={"task": task.config.task, "doc_id": 0, "repeats": 1, "split": "test"})
    spec = request.args[1][IGOS_KEY]
    assert spec["variant"] == "igos+" and spec["mask_size"] == 32 and spec["iterations"] == 5 and isinstance(spec["seed"], int)
    (image,) = request.args[2](task.dataset["test"][0])
    doc = task.dataset_no_image["test"][0]
    assert image.size == (doc["width"], doc["height"])
    with pytest.raises(RuntimeError, match="pixelshap_hf"):
        task.process_results(doc, ["red"])


def test_coco_task_pools_a_hand_made_mask_onto_the_target(monkeypatch, pixelshap_data_dir, coco_set_dir):
    task = _task(monkeypatch, pixelshap_data_dir, "pixelshap_coco_igos")
    for doc_id in range(len(task.dataset_no_image["test"])):
        doc = task.dataset_no_image["test"][doc_id]
        players = task.players(doc)
        if players.target_index is not None:
            break
    target = players.regions[players.target_index]
    width, height = target.size
    rows, cols = np.nonzero(target.mask)
    mask = np.ones((32, 32))  # delete (mask 0) the cells under the target's centre
    mask[int(rows.mean() / height * 31), int(cols.mean() / width * 31)] = 0.0
    found = task.process_results(doc, [_response(mask)])
    assert found["recall_at_1"] == 1.0 and found["documents_scored"] == 1
    assert found["igos_deletion_auc"] == 0.2 and found["igos_insertion_auc"] == 0.7
    record = found["pixelshap"]
    assert record["ranking"][0] == players.target_index and record["estimator"] == "igos+" and record["mask"] == mask.tolist()
    json.dumps(record, allow_nan=False)  # strict JSON: no NaN for the values no coalition gave
    skipped = task.process_results(doc, [json.dumps({"format": RESPONSE_FORMAT, "skipped": "no token"})])
    assert skipped["documents_skipped"] == 1 and skipped["pixelshap"]["skipped"] == "no token"


def test_human_task_scores_grid_cells_against_the_patches(monkeypatch, pixelshap_data_dir, human_set_dir):
    task = _task(monkeypatch, pixelshap_data_dir, "pixelshap_human_igos")
    doc = task.dataset_no_image["test"][0]
    found = task.process_results(doc, [_response(np.random.default_rng(0).random((32, 32)))])
    for name in ("hit_at_3", "precision_at_3", "ndcg_at_3", "map_spearman", "igos_insertion_auc"):
        assert np.isfinite(found[name]), name
    assert len(found["pixelshap"]["values"]) == 144


@pytest.mark.e2e
def test_synth_igos_through_lmms_eval_with_the_toy_model(tmp_path, synth_dir):
    settings = tmp_path / "igos.yaml"
    settings.write_text(yaml.safe_dump({"pixelshap_synth_igos": {"igos": FAST}}))
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},device=cpu,dtype=float32",
            "--tasks", "pixelshap_synth_igos", "--limit", "3"]
    run = run_lmms(args, tmp_path / "out", {"PIXELSHAP_DATA_DIR": str(synth_dir), "PIXELSHAP_CONFIG": str(settings)})
    counts = [run.metric("pixelshap_synth_igos", f"documents_{k}") for k in ("scored", "skipped", "failed")]
    assert sum(counts) == 3 and counts[2] == 0 and counts[0] >= 1
    assert 0.0 <= run.metric("pixelshap_synth_igos", "recall_at_1") <= 1.0
    assert np.isfinite(run.metric("pixelshap_synth_igos", "igos_deletion_auc"))
    scored = [r for r in run.records("pixelshap_synth_igos") if "mask" in r]
    assert all(np.asarray(r["mask"]).shape == (8, 8) and len(r["losses"]) == 2 for r in scored)
    assert all((tmp_path / "out" / r["heatmap"]).is_file() for r in scored)


def test_the_igos_option_is_checked_when_the_task_loads():
    from pixelshap_eval.lmms.config import load_config

    assert load_config("pixelshap_synth_igos", {"igos": {"variant": "igos++"}}, {}).igos == {"variant": "igos++"}
    with pytest.raises(ValueError, match="unknown iGOS settings"):
        load_config("pixelshap_synth_igos", {"igos": {"size": 16}}, {})
    with pytest.raises(ValueError, match="must be a mapping"):
        load_config("pixelshap_synth_igos", {"igos": "igos++"}, {})
