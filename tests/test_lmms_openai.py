"""The bundled OpenAI-compatible `openai` model (a chat model that sends images as base64 PNG)
runs pixelshap_coco unchanged against an OpenAI-compatible server; here a stub on 127.0.0.1 that
answers with a digest of the exact pixels it received, so the test can check that every
coalition request carried its own masked image."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_from_disk
from lmms_runs import run_lmms
from openai_stub import pixel_digest, serve_stub

from pixelshap_eval.lmms.config import load_config
from pixelshap_eval.lmms.documents import doc_players, doc_seed
from pixelshap_eval.masking import mask_image
from pixelshap_eval.shapley import get_estimator

pytestmark = pytest.mark.e2e
SETTINGS = "max_players=4,budget=10,heatmaps=false"


@pytest.fixture
def stub_server():
    with serve_stub() as stub:
        yield stub.base_url


def test_openai_model_gets_every_coalitions_own_image(stub_server, pixelshap_data_dir, coco_set_dir, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(pixelshap_data_dir), "PIXELSHAP_CONFIG": SETTINGS, "OPENAI_API_KEY": "stub"}
    args = ["--model", "openai", "--model_args", f"model=stub,base_url={stub_server},num_concurrent=4,max_retries=1",
            "--tasks", "pixelshap_coco", "--limit", "2"]
    run = run_lmms(args, tmp_path / "openai", env)
    assert np.isfinite(run.metric("pixelshap_coco", "recall_at_1"))
    config = load_config("pixelshap_coco", {"strategy": "bboa", "fill": "black", "budget": 64, "estimator": "kernel"}, {"PIXELSHAP_CONFIG": SETTINGS})
    rows = {row["question_id"]: row for row in load_from_disk(str(coco_set_dir))["test"]}
    for sample in run.samples["pixelshap_coco"]:
        key = sample["pixelshap"]["question_id"]
        row = rows[key]
        players = doc_players(row, config)
        plan = get_estimator("kernel").plan(len(players.regions), 10, doc_seed(0, key))
        expected = [pixel_digest(mask_image(row["image"], players.regions, mask, strategy="bboa", fill="black")) for mask in plan.masks]
        assert sample["filtered_resps"] == expected
        assert len(set(expected)) == len(plan)  # every coalition is a different image
