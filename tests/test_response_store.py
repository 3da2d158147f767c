"""The durable response store and the `pixelshap_store` wrapper: keys follow content, responses
survive a kill -9, and a rerun asks the model only for what is missing, with identical results."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lmms_runs import LMMS_EVAL, LmmsRun, run_lmms
from openai_stub import serve_stub
from PIL import Image

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.lmms.request_key import request_key
from pixelshap_eval.lmms.response_store import ResponseStore
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

SERVED = r"pixelshap_store: (\w+): (\d+) of (\d+) requests served from \S+, (\d+) computed"


def _image(seed: int, size: tuple[int, int] = (6, 5)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size[::-1], 3), dtype=np.uint8))


def _lookup(docs: dict):
    return lambda doc_id, task, split: docs[(doc_id, task, split)]


def test_store_keeps_what_it_committed_across_processes(tmp_path):
    path = tmp_path / "store" / "responses.sqlite"
    store = ResponseStore(path)
    store.put_many("generate_until", [("a", "cat"), ("b", "dog")])
    store.put_many("loglikelihood", [("c", [-1.5, True])])
    store.close()
    reopened = ResponseStore(path)
    assert reopened.get_many(["a", "c", "missing", "a"]) == {"a": "cat", "c": [-1.5, True]}
    assert len(reopened) == 3
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_refuses_a_folder_or_an_unwritable_path(tmp_path):
    with pytest.raises(ValueError, match="is a folder; give a file path"):
        ResponseStore(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cannot open the response store"):
        ResponseStore(tmp_path / "file" / "responses.sqlite")


def test_key_follows_the_pixels_not_the_document_id():
    image = _image(0)
    changed = image.copy()
    changed.putpixel((3, 2), (1, 2, 3) if image.getpixel((3, 2)) != (1, 2, 3) else (4, 5, 6))
    docs = {(0, "t", "s"): {"image": image}, (7, "other", "s2"): {"image": image.copy()}, (1, "t", "s"): {"image": changed}}
    gen = {"max_new_tokens": 8, "until": ["\n"]}

    def key(doc_id, task="t", split="s", kwargs=gen, model="m", kind="generate_until"):
        return request_key(model, kind, ("What is it?", kwargs, lambda doc: [doc["image"]], doc_id, task, split), _lookup(docs))

    assert key(0) == key(7, "other", "s2")  # same pixels, same prompt: same response
    assert key(0) != key(1)  # one pixel differs
    assert key(0) == key(0, kwargs={"until": ["\n"], "max_new_tokens": 8})  # dict order does not matter
    assert key(0) != key(0, kwargs={**gen, "max_new_tokens": 9})
    assert key(0) != key(0, model="m2") and key(0) != key(0, kind="loglikelihood")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 12), st.integers(1, 12))
def test_key_of_equal_images_is_equal_and_any_pixel_change_shows(seed, width, height):
    image = _image(seed, (width, height))
    rng = np.random.default_rng(seed + 1)
    x, y = int(rng.integers(width)), int(rng.integers(height))
    pixels = np.asarray(image).copy()
    pixels[y, x, int(rng.integers(3))] ^= 1
    docs = {(0, "t", "s"): image, (1, "t", "s"): image.copy(), (2, "t", "s"): Image.fromarray(pixels)}
    keys = [request_key("m", "generate_until", ("q", {}, lambda doc: [doc], i, "t", "s"), _lookup(docs)) for i in range(3)]
    assert keys[0] == keys[1] != keys[2]


def test_key_refuses_what_it_cannot_encode():
    with pytest.raises(TypeError, match="cannot key a request argument of type object"):
        request_key("m", "generate_until", ("q", {}, lambda doc: [object()], 0, "t", "s"), lambda *a: {})


# --- through lmms-eval ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("store-data")
    build_synth_set(3, 0, toy_question_types()).save(data / "synth")
    return data


def _toy_args(store: Path, chunk: int = 8) -> list[str]:
    return ["--model", "pixelshap_store", "--model_args", f"inner=pixelshap_hf,store={store},chunk={chunk},pretrained={TOY_MODEL_DIR},dtype=float32",
            "--batch_size", "4", "--tasks", "pixelshap_synth"]


def _openai_args(store: Path, base_url: str, chunk: int = 4) -> list[str]:
    return ["--model", "pixelshap_store", "--model_args", f"inner=openai,store={store},chunk={chunk},model=stub,base_url={base_url},num_concurrent=2,max_retries=1",
            "--tasks", "pixelshap_synth", "--limit", "4"]


def _counts(run: LmmsRun) -> tuple[int, int]:
    """(served from the store, computed) over the run's request types."""
    found = [tuple(map(int, m[1:])) for m in re.findall(SERVED, run.log)]
    assert found, run.log[-3000:]
    return sum(f[0] for f in found), sum(f[2] for f in found)


def _same_results(a: LmmsRun, b: LmmsRun, task: str = "pixelshap_synth") -> None:
    assert a.results["results"][task] == b.results["results"][task]
    def record(row: dict) -> dict:  # the heatmap path names the run that wrote it
        return {key: value for key, value in row["pixelshap"].items() if key != "heatmap"}

    assert [record(row) for row in a.samples[task]] == [record(row) for row in b.samples[task]]


def _kill_after_some_batches(args: list[str], output: Path, store: Path, env: dict[str, str], least: int) -> int:
    """Start lmms-eval, kill -9 its process group once the store holds >= `least` responses; the count kept."""
    command = [*LMMS_EVAL, *args, "--output_path", str(output), "--log_samples", "--verbosity", "DEBUG"]
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    kept = 0
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if store.exists():
                try:
                    kept = sqlite3.connect(store, timeout=5).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
                except sqlite3.OperationalError:  # the table is not made yet
                    kept = 0
                if kept >= least:
                    os.killpg(process.pid, signal.SIGKILL)
                    break
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed part-way"
    return int(sqlite3.connect(store).execute("SELECT COUNT(*) FROM responses").fetchone()[0])


@pytest.mark.e2e
def test_pixelshap_hf_run_killed_part_way_resumes_without_recomputing(synth_data, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(synth_data)}
    whole = run_lmms(_toy_args(tmp_path / "whole.sqlite"), tmp_path / "whole", env)
    served, computed = _counts(whole)
    assert served == 0 and computed > 40

    store = tmp_path / "killed.sqlite"
    kept = _kill_after_some_batches(_toy_args(store), tmp_path / "killed", store, env, least=8)
    assert 8 <= kept < computed
    resumed = run_lmms(_toy_args(store), tmp_path / "resumed", env)
    assert _counts(resumed) == (kept, computed - kept)  # no request computed twice
    _same_results(whole, resumed)


@pytest.mark.e2e
def test_api_model_run_resumes_without_new_calls_and_changed_images_are_asked_anew(synth_data, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(synth_data), "OPENAI_API_KEY": "stub"}
    store = tmp_path / "store.sqlite"
    with serve_stub(delay=0.05) as stub:
        whole = run_lmms(_openai_args(tmp_path / "whole.sqlite", stub.base_url), tmp_path / "whole", env)
        total = stub.calls
        assert _counts(whole) == (0, total) and total > 20

        stub.calls = 0
        kept = _kill_after_some_batches(_openai_args(store, stub.base_url), tmp_path / "killed", store, env, least=4)
        assert 4 <= kept < total
        stub.calls = 0
        resumed = run_lmms(_openai_args(store, stub.base_url), tmp_path / "resumed", env)
        assert stub.calls == total - kept == _counts(resumed)[1]  # the server saw only the missing requests
        _same_results(whole, resumed)

        # same question ids, document ids and prompts, other scenes: nothing may come from the store
        other = tmp_path / "other-scenes"
        build_synth_set(3, 1, toy_question_types()).save(other / "synth")
        stub.calls = 0
        changed = run_lmms(_openai_args(store, stub.base_url), tmp_path / "changed", {**env, "PIXELSHAP_DATA_DIR": str(other)})
        served, computed = _counts(changed)
        assert stub.calls == computed and served <= 0.1 * (served + computed)


def test_wrapper_names_what_is_missing(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import lmms_eval.models as m; m.get_model('pixelshap_store').create_from_arg_string('inner=pixelshap_hf')"],
        capture_output=True, text=True,
    )
    assert done.returncode != 0 and "pixelshap_store needs model_args store" in done.stderr
