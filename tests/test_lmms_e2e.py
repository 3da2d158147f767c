"""End to end through the real `lmms-eval` command, with tiny random HF models built in fixtures
and datasets built from ../shared/data: results JSON, samples JSONL, heatmaps, reproducibility,
the two-phase log-probability value, the plugin adapter and the bundled llava_hf."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_from_disk
from lmms_runs import run_lmms
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.lmms.documents import doc_to_text

pytestmark = pytest.mark.e2e

TASKS = "pixelshap_coco,pixelshap_coco_logprob,pixelshap_human"
OBJECT_METRICS = ("recall_at_1", "recall_at_2", "recall_at_3", "iou_at_1", "similarity_drop")
HUMAN_METRICS = ("hit_at_3", "precision_at_3", "ndcg_at_3", "similarity_drop")
POST_PROMPT = "\nAnswer the question using a single word or phrase."


@pytest.fixture(scope="module")
def lmms_env(pixelshap_data_dir, coco_set_dir, human_set_dir) -> dict[str, str]:
    return {
        "PIXELSHAP_DATA_DIR": str(pixelshap_data_dir),
        "PIXELSHAP_CONFIG": "max_players=6,pixelshap_coco.budget=24,pixelshap_coco_logprob.budget=24",
    }


@pytest.fixture(scope="module")
def hf_args(tiny_model_dirs) -> list[str]:
    model = tiny_model_dirs("llava")
    return [
        # masking=image: the bundled llava_hf comparison below needs the same (exact) masked images
        "--model", "pixelshap_hf", "--model_args", f"pretrained={model},device=cpu,dtype=float32,masking=image",
        "--batch_size", "16", "--tasks", TASKS, "--limit", "2", "--gen_kwargs", "max_new_tokens=4",
    ]


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory, hf_args, lmms_env):
    return run_lmms(hf_args, tmp_path_factory.mktemp("hf-run"), lmms_env)


def test_results_json_has_the_stable_metric_names(hf_run):
    for task in ("pixelshap_coco", "pixelshap_coco_logprob"):
        for name in OBJECT_METRICS:
            value = hf_run.metric(task, name)
            assert np.isfinite(value), (task, name)
        for k in (1, 2, 3):
            assert 0.0 <= hf_run.metric(task, f"recall_at_{k}") <= 1.0
        assert hf_run.metric(task, "recall_at_1") <= hf_run.metric(task, "recall_at_2") <= hf_run.metric(task, "recall_at_3")
    for name in HUMAN_METRICS:
        assert np.isfinite(hf_run.metric("pixelshap_human", name))
    assert "recall_at_1_stderr,none" in hf_run.results["results"]["pixelshap_coco"]


def test_samples_carry_the_attribution_and_kernel_shap_is_efficient(hf_run):
    for task in TASKS.split(","):
        records = [r for r in hf_run.records(task) if "values" in r]
        assert records, f"{task}: no attributed document"
        for record in records:
            n = record["n_players"]
            assert len(record["values"]) == len(record["std_errors"]) == len(record["players"]) == n
            assert sorted(record["ranking"]) == list(range(n))
            assert np.argmax(record["values"]) == record["ranking"][0] or np.isclose(
                record["values"][record["ranking"][0]], max(record["values"])
            )
            assert record["estimator"] == "kernel" and 2 <= record["n_calls"] <= (24 if "coco" in task else 2 * n + 2)
            assert all(len(player["box"]) == 4 and player["label"] for player in record["players"])
            assert record["full_answer"] is not None
            # efficiency: the Shapley values sum to v(N) - v(empty)
            assert np.isclose(sum(record["values"]), record["value_full"] - record["value_empty"], atol=1e-6)
    coco = [r for r in hf_run.records("pixelshap_coco") if "values" in r]
    assert all(r["target_label"] and len(r["target_box"]) == 4 for r in coco)
    human = hf_run.records("pixelshap_human")
    assert all(r["n_players"] == 144 and 1 <= len(r["human_patches"]) <= 3 for r in human)


def test_heatmaps_are_written_under_the_output_path(hf_run):
    for task in TASKS.split(","):
        for record in hf_run.records(task):
            if "values" not in record:
                continue
            path = hf_run.output / record["heatmap"]
            with Image.open(path) as image:
                assert image.format == "PNG" and min(image.size) > 16


def test_logprob_value_scores_the_models_own_full_image_answer(hf_run, tiny_model_dirs, coco_set_dir, human_set_dir):
    """Phase 1 generated the full-image answer; phase 2 scored it on every coalition. The full
    coalition's value must equal that answer's log-probability computed here independently."""
    runner = HFRunner.from_pretrained(tiny_model_dirs("llava"), dtype="float32", device="cpu")
    rows = {row["question_id"]: row for row in load_from_disk(str(coco_set_dir))["test"]}
    checked = 0
    for record in hf_run.records("pixelshap_coco_logprob"):
        if not record["full_answer"]:
            continue
        row = rows[record["question_id"]]
        question = doc_to_text(row, {"pre_prompt": "", "post_prompt": POST_PROMPT})
        expected = runner.loglikelihood([row["image"]], [question], [record["full_answer"]])[0]
        assert record["value_full"] == pytest.approx(expected, abs=1e-4)
        assert max(record["coalition_values"]) <= 0.0
        checked += 1
    assert checked, "no document had a non-empty full-image answer to check"
    human_rows = {row["question_id"]: row for row in load_from_disk(str(human_set_dir))["test"]}
    for record in hf_run.records("pixelshap_human"):
        row = human_rows[record["question_id"]]
        assert record["scored_answer"] == "Yes" and isinstance(record["full_answer"], str)
        expected = runner.loglikelihood([row["image"]], [row["question"]], ["Yes"])[0]
        assert record["value_full"] == pytest.approx(expected, abs=1e-4)


def test_same_seed_reproduces_the_same_attributions(hf_run, hf_args, lmms_env, tmp_path):
    again = run_lmms(hf_args, tmp_path / "again", lmms_env)
    for task in TASKS.split(","):
        first = {r["question_id"]: r.get("values") for r in hf_run.records(task)}
        second = {r["question_id"]: r.get("values") for r in again.records(task)}
        assert first == second, task


def test_bundled_llava_hf_gives_the_plugin_adapters_attributions(hf_run, tiny_model_dirs, lmms_env, tmp_path):
    """lmms-eval's own llava_hf (a chat model, batch size 1) runs the task unchanged; with the
    same processor chat template it must see the same masked images and give the same values."""
    model = tiny_model_dirs("llava")
    run = run_lmms(
        ["--model", "llava_hf", "--model_args", f"pretrained={model},device=cpu,device_map=cpu,dtype=float32",
         "--batch_size", "1", "--tasks", "pixelshap_coco", "--limit", "2", "--gen_kwargs", "max_new_tokens=4"],
        tmp_path / "llava-hf", lmms_env,
    )
    ours = {r["question_id"]: r for r in hf_run.records("pixelshap_coco")}
    theirs = {r["question_id"]: r for r in run.records("pixelshap_coco")}
    assert ours.keys() == theirs.keys()
    for key, record in theirs.items():
        assert record["full_answer"] == ours[key]["full_answer"]
        if "values" in record:
            np.testing.assert_allclose(record["coalition_values"], ours[key]["coalition_values"], atol=1e-5)


def test_faithfulness_follow_up_scores_the_first_runs_rankings(hf_run, hf_args, lmms_env, tmp_path):
    """Second run: deletion/insertion curves of the first run's rankings, through the real command."""
    samples = next(hf_run.output.glob("*/*_samples_pixelshap_coco.jsonl"))
    args = [*hf_args]
    args[args.index("--tasks") + 1] = "pixelshap_coco_faithfulness"
    env = {**lmms_env, "PIXELSHAP_CONFIG": f"max_players=6,rankings={samples}"}
    run = run_lmms(args, tmp_path / "faithfulness", env)
    first = {r["question_id"]: r for r in hf_run.records("pixelshap_coco") if "ranking" in r}
    records = run.records("pixelshap_coco_faithfulness")
    assert {r["question_id"] for r in records} == set(first)
    for record in records:
        n = first[record["question_id"]]["n_players"]
        assert record["ranking"] == first[record["question_id"]]["ranking"]
        assert record["n_calls"] == (2 * n if n > 1 else 2)  # empty, full, and n-1 inner points per curve
        # same model, same full image, same answer: the curves start where the attribution did
        assert record["coalition_values"][1] == pytest.approx(first[record["question_id"]]["value_full"])
    for name in ("deletion_auc", "insertion_auc"):
        assert np.isfinite(run.metric("pixelshap_coco_faithfulness", name))
