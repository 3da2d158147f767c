"""The GPU benchmark: its 7B model has llava-1.5-7b-hf's architecture (checked without weights,
on the meta device), and its `--tiny` run on CPU through lmms-eval's evaluator (in this process,
which shares the imports and the answer embedder with the other tests) gives sane figures."""

from __future__ import annotations

import json
import time

import pytest
import torch
from PIL import Image
from script_modules import load_script

from pixelshap_eval.testing.llava_sizes import LLAVA_1_5_7B, TINY, build_llava, full_vocabulary_tokenizer

LLAVA_1_5_7B_PARAMETERS = 7_063_427_072  # llava-hf/llava-1.5-7b-hf's model card


def _load_bench():
    return load_script("bench_gpu")


def test_the_7b_model_has_llava_1_5_7b_architecture():
    model, processor = build_llava(LLAVA_1_5_7B, dtype=torch.bfloat16, device="meta")
    assert sum(p.numel() for p in model.parameters()) == LLAVA_1_5_7B_PARAMETERS
    assert model.config._attn_implementation == "sdpa"
    assert model.config.vision_feature_layer == -2
    inputs = processor(text=[processor.tokenizer.decode([0]) + "USER: <image>\nwhat is it? ASSISTANT:"],
                       images=[Image.new("RGB", (640, 480))], return_tensors="pt")
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 336, 336)
    assert int((inputs["input_ids"] == model.config.image_token_id).sum()) == LLAVA_1_5_7B.image_tokens == 576


def test_every_token_the_model_can_generate_decodes():
    tokenizer = full_vocabulary_tokenizer(LLAVA_1_5_7B.vocab_size)
    assert len(tokenizer) == LLAVA_1_5_7B.vocab_size
    assert tokenizer.decode([LLAVA_1_5_7B.vocab_size - 1]).startswith("filler")
    with pytest.raises(ValueError, match="vocab_size must be at least"):
        full_vocabulary_tokenizer(10)


def test_the_clock_counts_nested_calls_once():
    clock = _load_bench().Clock(cuda=False)

    def inner():
        time.sleep(0.02)

    timed_inner = clock.timed("model", inner)

    def outer():
        timed_inner()
        timed_inner()

    clock.timed("model", outer)()
    assert 0.04 <= clock.seconds["model"] < 0.5  # two nested 20 ms calls inside one outer call, counted once


def test_bad_budgets_say_what_to_pass():
    bench = _load_bench()
    assert bench.parse_budgets("21, 64") == [21, 64]
    for bad in ("21,x", "0", ""):
        with pytest.raises(SystemExit, match="--budgets"):
            bench.parse_budgets(bad)


def test_tiny_run_prints_sane_figures(tmp_path, shared_data, monkeypatch, capsys):
    for name in ("PIXELSHAP_CONFIG", "PIXELSHAP_DATA_DIR"):  # the run sets them; restored afterwards
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "bench.json"
    _load_bench().main([
        "--tiny", "--images", "1", "--budgets", "21,30", "--batch-size", "16", "--new-tokens", "4",
        "--coco", str(shared_data / "coco_tiny"), "--out", str(out),
    ])
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["model"] == TINY.name and figures["device"] == "cpu" and figures["attention"] == "sdpa"
    assert [run["budget"] for run in figures["runs"]] == [21, 30]
    for run in figures["runs"]:
        assert run["images"] == run["documents_scored"] == 1
        assert 0 < run["model_calls"] <= run["budget"]
        assert run["new_tokens_per_answer"] == [4]  # forced: random weights would stop anywhere
        assert run["seconds_per_image"] > 0 and run["wall_s"] > run["model_s"] > 0
        assert 0 < run["model_share"] <= 1 and 0 <= run["embedding_share"] < 1
        assert run["paper_over_ours"] == pytest.approx(15.0 / run["seconds_per_image"])
        assert run["peak_gpu_memory_gib"] is None  # CPU run
    assert "exactly 4 new tokens" in printed and "| 21 |" in printed and "| 30 |" in printed
