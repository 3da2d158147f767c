"""The bundled OpenAI-compatible `openai` model (a chat model that sends images as base64 PNG)
runs pixelshap_coco unchanged against an OpenAI-compatible server; here a stub on 127.0.0.1 that
answers with a digest of the exact pixels it received, so the test can check that every
coalition request carried its own masked image."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from datasets import load_from_disk
from lmms_runs import run_lmms
from PIL import Image

from pixelshap_eval.lmms.config import load_config
from pixelshap_eval.lmms.documents import doc_players, doc_seed
from pixelshap_eval.masking import mask_image
from pixelshap_eval.shapley import get_estimator

pytestmark = pytest.mark.e2e
SETTINGS = "max_players=4,budget=10,heatmaps=false"


def pixel_digest(image: Image.Image) -> str:
    return "img" + hashlib.sha1(np.asarray(image.convert("RGB")).tobytes()).hexdigest()[:10]


class StubChat(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: answers with the digest of the request's image."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        urls = [part["image_url"]["url"] for message in body["messages"] if isinstance(message["content"], list)
                for part in message["content"] if part.get("type") == "image_url"]
        image = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
        reply = {
            "id": "stub", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": pixel_digest(image)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


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
