"""pixelshap_synth_layerwise through the real lmms-eval command with the shipped toy model:
per-layer metrics in the results, per-layer scores in the samples, last-layer values equal to
the ordinary first-token probability of the full-image answer; any other model is refused with
one error naming pixelshap_hf."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from datasets import load_from_disk
from lmms_runs import LMMS_EVAL, run_lmms
from openai_stub import serve_stub

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.lmms.config import load_config
from pixelshap_eval.lmms.documents import doc_players, doc_seed, doc_to_text
from pixelshap_eval.masking import mask_image
from pixelshap_eval.shapley import get_estimator
from pixelshap_eval.toy import TOY_MODEL_DIR, load_toy_model, toy_question_types

pytestmark = pytest.mark.e2e
TASK = "pixelshap_synth_layerwise"
TOY_LAYERS = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("layerwise")
    build_synth_set(1, 0, toy_question_types()).save(root / "synth")
    return root


def test_toy_model_gives_per_layer_metrics_and_last_layer_equals_the_ordinary_value(data_dir, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(data_dir), "PIXELSHAP_CONFIG": "heatmaps=false"}
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32", "--tasks", TASK,
            "--limit", "3", "--batch_size", "4"]
    run = run_lmms(args, tmp_path / "run", env)
    metrics = run.results["results"][TASK]
    for layer in range(1, TOY_LAYERS + 1):
        assert 0.0 <= metrics[f"recall_at_1_layer_{layer:02d},none"] <= 1.0
    assert metrics[f"recall_at_1_layer_{TOY_LAYERS:02d},none"] == metrics["recall_at_1,none"]
    assert run.results["higher_is_better"][TASK]["recall_at_1_layer_01"] is True

    model, processor = load_toy_model()
    runner = HFRunner(model, processor, batch_size=8)
    settings = load_config(TASK, {"strategy": "bboa", "fill": "black", "value": "logprob", "layerwise": True})
    rows = {row["question_id"]: row for row in load_from_disk(str(data_dir / "synth"))["test"]}
    records = run.records(TASK)
    assert len(records) == 3
    for record in records:
        row = rows[record["question_id"]]
        players = doc_players(row, settings)
        plan = get_estimator("exact").plan(len(players.regions), None, doc_seed(0, record["question_id"]))
        images = [mask_image(row["image"], players.regions, mask, strategy="bboa", fill="black") for mask in plan.masks]
        question = doc_to_text(row)
        ordinary = np.exp([s.token_logprobs[0] for s in runner.score(images, [question] * len(images), [record["full_answer"]] * len(images))])
        assert record["layers"] == [1, 2, 3] and record["n_layers"] == TOY_LAYERS and record["value_function"] == "first_token_prob"
        np.testing.assert_allclose(record["layer_coalition_values"][-1], ordinary, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(record["coalition_values"], ordinary, rtol=1e-4, atol=1e-6)
        assert len(record["layer_values"]) == TOY_LAYERS and all(len(v) == len(players.regions) for v in record["layer_values"])
        assert record["layer_values"][-1] == record["values"]
        assert set(record["layer_metrics"]) == {"1", "2", "3"}


def test_another_model_is_refused_naming_pixelshap_hf(data_dir, tmp_path):
    with serve_stub() as stub:
        env = {**os.environ, "PIXELSHAP_DATA_DIR": str(data_dir), "PIXELSHAP_CONFIG": "heatmaps=false", "OPENAI_API_KEY": "stub"}
        command = [*LMMS_EVAL, "--model", "openai", "--model_args", f"model=stub,base_url={stub.base_url},max_retries=1",
                   "--tasks", TASK, "--limit", "1", "--output_path", str(tmp_path / "out")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert "only --model pixelshap_hf returns; this run uses --model openai" in log, log[-3000:]
    assert not list((tmp_path / "out").glob("*/*_results.json"))
