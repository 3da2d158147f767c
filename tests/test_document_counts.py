"""Scored, skipped and failed documents: the same rule for both value functions, and the counts
as summed metrics of lmms-eval's results JSON."""

from __future__ import annotations

import pytest
from lmms_runs import run_lmms
from PIL import ImageFile

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.lmms.counts import COUNT_METRICS, document_counts, total
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    build_synth_set(2, 0, toy_question_types()).save(data / "synth")
    return data


def _task(monkeypatch, synth_dir, settings: str):
    # lmms-eval sets PIL's LOAD_TRUNCATED_IMAGES when imported; keep it from leaking into other tests
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", ImageFile.LOAD_TRUNCATED_IMAGES)
    import lmms_eval.models  # noqa: F401  (loads the model entry points, as the CLI does)
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(synth_dir))
    monkeypatch.setenv("PIXELSHAP_CONFIG", settings)
    (task,) = get_task_dict(["pixelshap_synth"], TaskManager()).values()
    doc = task.dataset_no_image["test"][0]
    task.construct_requests(0, "q", metadata={"task": "pixelshap_synth", "doc_id": 0, "repeats": 1, "split": "test"})
    return task, doc, len(task.players("test", 0).regions)


def test_counts_are_one_outcome_per_document_and_sum():
    assert document_counts("skipped") == {"documents_scored": 0, "documents_skipped": 1, "documents_failed": 0}
    assert total([1, 0, 1, 1]) == 3
    with pytest.raises(ValueError, match="outcome is one of"):
        document_counts("lost")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["similarity", "logprob"])
def test_an_empty_full_image_answer_is_skipped_by_both_value_functions(monkeypatch, synth_dir, value):
    task, doc, n = _task(monkeypatch, synth_dir, f"value={value},estimator=kernel,budget=auto")
    rows = len(task._plan(str(doc["question_id"]), n))
    results = [""] * rows if value == "similarity" else ["", *["(0.0, False)"] * rows]
    found = task.process_results(doc, results)
    assert {k: v for k, v in found.items() if k != "pixelshap"} == document_counts("skipped")  # no metric at chance
    assert "empty" in found["pixelshap"]["skipped"]


def test_a_document_whose_scoring_raises_is_counted_as_failed(monkeypatch, synth_dir):
    task, doc, n = _task(monkeypatch, synth_dir, "value=logprob,estimator=kernel,budget=auto")
    rows = len(task._plan(str(doc["question_id"]), n))
    monkeypatch.setattr(task, "evaluate", lambda *args: (_ for _ in ()).throw(ValueError("broken")))
    found = task.process_results(doc, ["red", *[f"({-i}.0, False)" for i in range(rows)]])
    assert {k: v for k, v in found.items() if k != "pixelshap"} == document_counts("failed")
    assert found["pixelshap"]["error"] == "ValueError: broken"


@pytest.mark.e2e
def test_results_json_holds_the_document_counts(synth_dir, tmp_path):
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32", "--tasks", "pixelshap_synth", "--limit", "3"]
    run = run_lmms(args, tmp_path / "run", {"PIXELSHAP_DATA_DIR": str(synth_dir), "PIXELSHAP_CONFIG": "heatmaps=false"})
    assert {name: run.metric("pixelshap_synth", name) for name in COUNT_METRICS} == {
        "documents_scored": 3, "documents_skipped": 0, "documents_failed": 0}


def test_a_document_the_estimator_cannot_plan_is_one_failed_document(monkeypatch, synth_dir):
    """Exact Shapley over 20 grid cells: the plan fails for the document, not for the run."""
    task, doc, n = _task(monkeypatch, synth_dir, "players=grid,grid_rows=4,grid_cols=5,estimator=exact,heatmaps=false")
    assert n == 20 and len(task._plan(str(doc["question_id"]), n)) == 2  # only the empty and full images are asked
    found = task.process_results(doc, ["", "red"])
    assert {k: v for k, v in found.items() if k != "pixelshap"} == document_counts("failed")
    assert "allows at most 14 players, got 20" in found["pixelshap"]["error"]


@pytest.mark.e2e
def test_unplannable_documents_fail_alone_and_the_rest_are_scored(synth_dir, tmp_path):
    """A budget of 7 rows is too small for KernelSHAP over 6 players (it needs 8), enough below."""
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32", "--tasks", "pixelshap_synth"]
    env = {"PIXELSHAP_DATA_DIR": str(synth_dir), "PIXELSHAP_CONFIG": "heatmaps=false,estimator=kernel,budget=7"}
    run = run_lmms(args, tmp_path / "run", env)
    records = run.records("pixelshap_synth")
    failed = [r for r in records if "error" in r]
    assert failed and all("needs a budget of at least" in r["error"] for r in failed)
    assert run.metric("pixelshap_synth", "documents_failed") == len(failed)
    assert run.metric("pixelshap_synth", "documents_scored") == len(records) - len(failed) > 0
    assert "recall_at_1,none" in run.results["results"]["pixelshap_synth"]
