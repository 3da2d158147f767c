"""Each coalition request must reach the model with its own masked image, whatever a model
wrapper does with a batch; and a wrapper that cannot be routed correctly must be refused.

Runs lmms-eval in process (`simple_evaluate`) with fake models that reproduce the two batch
patterns of bundled wrappers: applying the FIRST request's visual callable to every doc of the
batch (routed correctly by virtual docs) and looking up the FIRST doc id for the whole batch
(which no task can route: refused with a clear error)."""

from __future__ import annotations

import numpy as np
import pytest
from lmms_eval.api.model import lmms
from lmms_eval.evaluator import simple_evaluate

from pixelshap_eval.lmms.routing import COALITION_KEY, router_for

TASK = "pixelshap_coco"


class FirstCallableForTheBatch(lmms):
    """Like qwen2_5_vl (simple) and many others: `doc_to_visual[0]` for every doc of a batch."""

    def __init__(self, batch_size: int = 4) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seen: dict[int, np.ndarray] = {}

    def generate_until(self, requests):
        answers = []
        for start in range(0, len(requests), self.batch_size):
            chunk = [r.args for r in requests[start : start + self.batch_size]]
            _, _, visuals, doc_ids, tasks, splits = zip(*chunk)
            for doc_id in doc_ids:
                doc = self.task_dict[tasks[0]][splits[0]][doc_id]
                image = visuals[0](doc)[0]
                self.seen[doc[COALITION_KEY]] = np.asarray(image)
                answers.append(self.answer(image))
        return answers

    @staticmethod
    def answer(image) -> str:
        return "bright" if np.asarray(image).mean() > 60 else "dark"

    def loglikelihood(self, requests):
        raise AssertionError("not used by this task")

    def generate_until_multi_round(self, requests):
        raise AssertionError("not used by this task")


class FirstDocForTheBatch(FirstCallableForTheBatch):
    """Like ovis_u1: one doc id looked up for the whole batch (no task can route this)."""

    def generate_until(self, requests):
        answers = []
        for start in range(0, len(requests), self.batch_size):
            chunk = [r.args for r in requests[start : start + self.batch_size]]
            _, _, visuals, doc_ids, tasks, splits = zip(*chunk)
            image = visuals[0](self.task_dict[tasks[0]][splits[0]][doc_ids[0]])[0]
            answers.extend(self.answer(image) for _ in doc_ids)
        return answers


@pytest.fixture
def data_env(monkeypatch, pixelshap_data_dir, coco_set_dir):
    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(pixelshap_data_dir))
    monkeypatch.setenv("PIXELSHAP_CONFIG", "max_players=5,budget=12,heatmaps=false")


def test_first_callable_wrappers_get_every_coalitions_own_image(data_env):
    model = FirstCallableForTheBatch(batch_size=4)
    results = simple_evaluate(model=model, tasks=[TASK], limit=2, log_samples=True, bootstrap_iters=0)
    router = router_for(TASK)
    assert len(model.seen) == len(router) >= 8
    for virtual_id, image in model.seen.items():
        expected = router.renderer.masked_image(router.ref(virtual_id))
        np.testing.assert_array_equal(image, np.asarray(expected))
    plans = {router.ref(v).doc_id for v in model.seen}
    assert len(plans) == 2  # both documents' coalitions went through the batches
    samples = results["samples"][TASK]
    assert all("recall_at_1" in row for row in samples if "values" in row["pixelshap"])


def test_wrappers_that_reuse_one_doc_for_a_batch_are_refused(data_env):
    with pytest.raises(RuntimeError, match="without ever building their images"):
        simple_evaluate(model=FirstDocForTheBatch(batch_size=4), tasks=[TASK], limit=2, log_samples=True, bootstrap_iters=0)


def test_plugin_adapter_runs_a_qwen_vl_model_both_phases(data_env, tiny_model_dirs):
    """pixelshap_hf with a Qwen2-VL model (other chat template, image grid, per-token type ids):
    the full-image answer is generated, then every coalition scored by log-probability."""
    from pixelshap_eval.lmms.hf_model import PixelShapHF

    model = PixelShapHF(pretrained=str(tiny_model_dirs("qwen2_vl")), device="cpu", dtype="float32", batch_size=8)
    results = simple_evaluate(model=model, tasks=["pixelshap_coco_logprob"], limit=2, log_samples=True, bootstrap_iters=0, gen_kwargs="max_new_tokens=3")
    records = [row["pixelshap"] for row in results["samples"]["pixelshap_coco_logprob"]]
    scored = [r for r in records if "values" in r]
    assert scored and all(r["scored_answer"] == r["full_answer"] for r in scored)
    for record in scored:
        assert max(record["coalition_values"]) <= 0.0
        assert np.isclose(sum(record["values"]), record["value_full"] - record["value_empty"], atol=1e-6)


def test_a_document_that_fails_to_score_keeps_the_rest_of_the_run(data_env, monkeypatch):
    """One document's error is recorded in its sample row; the other documents are scored."""
    from pixelshap_eval.lmms.task import ObjectAttributionTask

    original = ObjectAttributionTask.score
    calls = []

    def fail_first(self, doc, *args):
        calls.append(doc["question_id"])
        if len(calls) == 1:
            raise ValueError("broken document")
        return original(self, doc, *args)

    monkeypatch.setattr(ObjectAttributionTask, "score", fail_first)
    results = simple_evaluate(model=FirstCallableForTheBatch(), tasks=[TASK], limit=2, log_samples=True, bootstrap_iters=0)
    records = [row["pixelshap"] for row in results["samples"][TASK]]
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1 and failed[0]["error"] == "ValueError: broken document" and failed[0]["coalition_values"]
    assert any("values" in r for r in records)
    assert "recall_at_1,none" in results["results"][TASK]
