"""Same seed, same data, same model: two lmms-eval runs give exactly the same numbers, though
lmms-eval scores documents in several threads (answers reach the embedder in any order)."""

from __future__ import annotations

import pytest
from lmms_runs import run_lmms

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

pytestmark = pytest.mark.e2e

TASK = "pixelshap_synth"


def test_two_identical_runs_give_every_metric_exactly(tmp_path):
    build_synth_set(3, 0, toy_question_types()).save(tmp_path / "data" / "synth")
    env = {"PIXELSHAP_DATA_DIR": str(tmp_path / "data"), "PIXELSHAP_CONFIG": "heatmaps=false,estimator=kernel,budget=auto"}
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32", "--tasks", TASK, "--limit", "8"]
    first, second = (run_lmms(args, tmp_path / name, env) for name in ("first", "second"))
    metrics = first.results["results"][TASK]
    assert "recall_at_1,none" in metrics and metrics["documents_scored,none"] == 8
    assert metrics == second.results["results"][TASK]
    records = [{r["question_id"]: (r["values"], r["ranking"], r["coalition_values"]) for r in run.records(TASK)} for run in (first, second)]
    assert records[0] == records[1]
