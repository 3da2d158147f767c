"""Data parallel: two ranks (torchrun, gloo on CPU; `accelerate launch` on GPUs) shard the
documents and give exactly the attributions of a single-process run."""

from __future__ import annotations

import socket
import sys

import pytest
from lmms_runs import run_lmms

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_ranks_shard_documents_and_match_one_process(tiny_model_dirs, pixelshap_data_dir, coco_set_dir, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(pixelshap_data_dir), "PIXELSHAP_CONFIG": "max_players=4,budget=10,heatmaps=false",
           "OMP_NUM_THREADS": "1"}
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={tiny_model_dirs('llava')},dtype=float32",
            "--tasks", "pixelshap_coco", "--limit", "4", "--gen_kwargs", "max_new_tokens=3"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "lmms_eval"]
    parallel = run_lmms(args, tmp_path / "two-ranks", env, command=torchrun)
    single = run_lmms(args, tmp_path / "one-process", env)
    assert "world_size2" in parallel.log and "Running on rank 1" in parallel.log
    by_key = {r["question_id"]: r for r in single.records("pixelshap_coco")}
    records = parallel.records("pixelshap_coco")
    assert len(records) == 4 and {r["question_id"] for r in records} == set(by_key)
    for record in records:
        assert record.get("values") == by_key[record["question_id"]].get("values")
    assert parallel.results["results"]["pixelshap_coco"] == single.results["results"]["pixelshap_coco"]
