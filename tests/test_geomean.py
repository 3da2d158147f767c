"""The Patchwise value geomean_prob: exp(-mean cross-entropy) of the answer and its end token,
checked against the model's own loss, and through the real lmms-eval command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from hypothesis import given, settings
from hypothesis import strategies as st
from lmms_runs import run_lmms

from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.lmms.documents import doc_to_text
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types
from pixelshap_eval.values import answer_geomean_prob, geomean_ask

POST_PROMPT = "\nAnswer the question using a single word or phrase."


@settings(deadline=None, max_examples=50)
@given(st.lists(st.floats(-30.0, 0.0), min_size=1, max_size=12))
def test_geomean_is_the_geometric_mean_of_the_token_probabilities(logprobs):
    expected = math.prod(math.exp(lp) for lp in logprobs) ** (1 / len(logprobs))
    assert answer_geomean_prob(logprobs) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert 0.0 <= answer_geomean_prob(logprobs) <= 1.0


def test_geomean_rejects_what_is_not_log_probabilities():
    with pytest.raises(ValueError, match="log-probabilities"):
        answer_geomean_prob([0.5, -1.0])
    with pytest.raises(ValueError, match="non-empty"):
        answer_geomean_prob([])


@pytest.fixture(scope="module")
def runner():
    return HFRunner.from_pretrained(str(TOY_MODEL_DIR), dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    build_synth_set(2, 0, toy_question_types()).save(data / "synth")
    return data


def test_geomean_equals_exp_of_the_models_own_loss_on_answer_and_end_token(runner, synth_dir):
    """Independent computation: the model's built-in cross-entropy with labels on the answer's
    tokens and the end token only."""
    row = load_from_disk(str(synth_dir / "synth"))["test"][0]
    question = doc_to_text(row, {"pre_prompt": "", "post_prompt": POST_PROMPT})
    answer = runner.generate([row["image"]], [question])[0]
    with_end, without_end = (runner.score([row["image"]], [question], [answer], include_eos=e)[0] for e in (True, False))
    np.testing.assert_allclose(with_end.token_logprobs[:-1], without_end.token_logprobs, atol=1e-5)

    inputs = runner.processor(text=[runner.prompt(question)], images=[row["image"]], return_tensors="pt")
    target = runner.tokenizer(answer, add_special_tokens=False)["input_ids"] + [runner.tokenizer.eos_token_id]
    ids = torch.cat([inputs["input_ids"], torch.tensor([target])], dim=1)
    labels = torch.full_like(ids, -100)
    labels[0, -len(target) :] = torch.tensor(target)
    with torch.inference_mode():
        loss = runner.model(
            input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs["pixel_values"], labels=labels
        ).loss
    ask = geomean_ask(runner, row["image"], question, answer)
    assert ask([row["image"]])[0] == pytest.approx(math.exp(-float(loss)), rel=1e-5)
    assert answer_geomean_prob(with_end.token_logprobs) == pytest.approx(math.exp(-float(loss)), rel=1e-5)


def _args(model: str) -> list[str]:
    return ["--model", model, "--model_args", f"pretrained={TOY_MODEL_DIR},device=cpu,dtype=float32",
            "--batch_size", "16", "--tasks", "pixelshap_synth", "--limit", "2"]


def test_geomean_value_through_lmms_eval_is_the_full_images_geomean(runner, synth_dir, tmp_path):
    env = {"PIXELSHAP_DATA_DIR": str(synth_dir), "PIXELSHAP_CONFIG": "value=geomean_prob,estimator=kernel,budget=2n+2,heatmaps=false"}
    run = run_lmms(_args("pixelshap_hf"), tmp_path / "run", env)
    rows = {row["question_id"]: row for row in load_from_disk(str(synth_dir / "synth"))["test"]}
    records = run.records("pixelshap_synth")
    assert len(records) == 2
    for record in records:
        row = rows[record["question_id"]]
        question = doc_to_text(row, {"pre_prompt": "", "post_prompt": POST_PROMPT})
        expected = geomean_ask(runner, row["image"], question, record["full_answer"])([row["image"]])[0]
        assert record["value_function"] == "geomean_prob"
        assert record["value_full"] == pytest.approx(expected, rel=1e-4)
        assert all(0.0 < v <= 1.0 for v in record["coalition_values"])
    assert run.metric("pixelshap_synth", "documents_scored") == 2


def test_geomean_answers_not_scored_as_asked_are_one_clear_error(monkeypatch, synth_dir):
    """A model other than pixelshap_hf scores the marked continuation as plain text (bundled
    llava_hf cannot score at all in lmms-eval 0.7.3): the task must refuse its numbers."""
    import lmms_eval.models  # noqa: F401  (loads the model entry points, as the CLI does)
    from lmms_eval.tasks import TaskManager, get_task_dict
    from PIL import ImageFile

    from pixelshap_eval.lmms.routing import MEAN_WITH_END_TOKEN, coalition_continuation, coalition_visual

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", ImageFile.LOAD_TRUNCATED_IMAGES)
    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(synth_dir))
    monkeypatch.setenv("PIXELSHAP_CONFIG", "value=geomean_prob,estimator=kernel,budget=2n+2")
    (task,) = get_task_dict(["pixelshap_synth"], TaskManager()).values()
    doc = task.dataset_no_image["test"][0]
    requests = task.construct_requests(0, "q", metadata={"task": "pixelshap_synth", "doc_id": 0, "repeats": 1, "split": "test"})
    answer = requests[0]
    answer.resps.append("red")
    for request in requests:  # what any model does: render the image, read the continuation
        virtual_doc = task.router[request.args[3]]
        coalition_visual("pixelshap_synth", virtual_doc)
        if request.request_type == "loglikelihood":
            assert coalition_continuation("pixelshap_synth", virtual_doc) == "red" + MEAN_WITH_END_TOKEN
    results = ["red", *["(-1.0, False)"] * (len(requests) - 1)]
    with pytest.raises(RuntimeError, match="value=geomean_prob needs --model pixelshap_hf"):
        task.process_results(doc, results)
    for request in requests[1:]:  # what pixelshap_hf does besides: note each one it scored as asked
        task.router.note_end_token_scored(request.args[3])
    found = task.process_results(doc, results)
    assert found["documents_scored"] == 1
    assert found["pixelshap"]["coalition_values"] == pytest.approx([math.exp(-1.0)] * (len(requests) - 1))
