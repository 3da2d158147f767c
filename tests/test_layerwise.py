"""The pieces of the layer-wise channel: settings, the JSON answer and its checks, the model
check, per-layer metric names and their aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelshap_eval.lmms.config import load_config
from pixelshap_eval.lmms.layer_requests import LayerwiseTarget, check_layerwise_model, encode_layer_response, parse_layer_response
from pixelshap_eval.lmms.layerwise import LayerAggregations
from pixelshap_eval.lmms.responses import layer_coalition_values
from pixelshap_eval.logit_lens import LayerProbs
from pixelshap_eval.metrics import higher_is_better, layer_metric_name, split_layer_metric

TASK = "pixelshap_synth_layerwise"


def test_layer_settings_are_read_and_checked():
    assert load_config(TASK, {"value": "logprob", "layerwise": True}).layers == "all"
    assert load_config(TASK, {"value": "logprob", "layerwise": True, "layers": [8, 2, 8]}).layers == (2, 8)
    assert load_config(TASK, {"value": "logprob", "layerwise": True}, {"PIXELSHAP_CONFIG": "layers=4 1"}).layers == (1, 4)
    with pytest.raises(ValueError, match="set value=logprob"):
        load_config(TASK, {"layerwise": True})
    with pytest.raises(ValueError, match="numbered from 1"):
        load_config(TASK, {"layers": [0, 3]})
    with pytest.raises(ValueError, match="not understood"):
        load_config(TASK, {"layers": "last"})


def test_a_layer_response_travels_as_json_and_back():
    probs = LayerProbs(layers=(1, 3), n_layers=3, probs=np.array([[0.25, 0.5], [0.125, 1.0]]))
    answer = parse_layer_response(TASK, encode_layer_response(probs, 1))
    assert answer.layers == (1, 3) and answer.n_layers == 3
    np.testing.assert_array_equal(answer.probs, [0.125, 1.0])
    full, values = layer_coalition_values(TASK, ["red", encode_layer_response(probs, 0), encode_layer_response(probs, 1)], 2)
    assert full == "red" and values.layers == (1, 3)
    np.testing.assert_array_equal(values.values, probs.probs)


@pytest.mark.parametrize("response", ["(-1.25, True)", "red circle", "[0.1, 0.2]", '{"pixelshap_layers": [1]}', None, (-1.2, True)])
def test_a_model_that_ignored_the_layer_request_gets_one_clear_error(response):
    with pytest.raises(RuntimeError, match="only --model pixelshap_hf returns"):
        parse_layer_response(TASK, response)


def test_responses_reading_different_layers_are_refused():
    a = encode_layer_response(LayerProbs((1, 2), 2, np.ones((1, 2))), 0)
    b = encode_layer_response(LayerProbs((2,), 2, np.ones((1, 1))), 0)
    with pytest.raises(RuntimeError, match="different layers"):
        layer_coalition_values(TASK, ["x", a, b], 2)


def test_only_pixelshap_hf_may_run_a_layerwise_task():
    check_layerwise_model(TASK, "pixelshap_hf")
    check_layerwise_model(TASK, None)  # not known (the Python API): the responses are checked instead
    for other in ("openai", "llava_hf", "pixelshap_store"):
        with pytest.raises(ValueError, match=f"only --model pixelshap_hf returns; this run uses --model {other}"):
            check_layerwise_model(TASK, other)


def test_the_layer_target_reads_the_tasks_continuation():
    target = LayerwiseTarget(TASK, (1, 2))
    assert target.layers == (1, 2) and not isinstance(target, str)
    with pytest.raises(RuntimeError, match="no coalition router"):
        target({"__pixelshap_coalition__": 0})


@given(st.sampled_from(["recall_at_1", "hit_at_3", "deletion_auc"]), st.integers(1, 200))
def test_layer_metric_names_round_trip_and_keep_their_direction(metric, layer):
    name = layer_metric_name(metric, layer)
    assert split_layer_metric(name) == (metric, layer)
    assert higher_is_better(name) is higher_is_better(metric) is (metric != "deletion_auc")


def test_layer_metric_names_sort_by_layer_below_100():
    names = [layer_metric_name("recall_at_1", n) for n in (10, 2, 1)]
    assert sorted(names) == ["recall_at_1_layer_01", "recall_at_1_layer_02", "recall_at_1_layer_10"]
    assert split_layer_metric("recall_at_1") is None and higher_is_better("no_such_metric") is None


def test_per_layer_metrics_are_averaged():
    aggregations = LayerAggregations({"recall_at_1": len})
    assert "recall_at_1_layer_07" in aggregations and "recall_at_1" in aggregations and "other" not in aggregations
    assert aggregations["recall_at_1_layer_07"]([1.0, 0.0]) == 0.5
    with pytest.raises(KeyError):
        aggregations["other"]


def test_the_layerwise_tasks_build_and_ordinary_tasks_refuse_layerwise(monkeypatch, pixelshap_data_dir, human_set_dir):
    import lmms_eval.models  # noqa: F401  (the plugin's entry point, as the CLI loads it)
    from lmms_eval.tasks import TaskManager, get_task_dict

    from pixelshap_eval.lmms.layerwise import HumanLayerwiseTask

    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(pixelshap_data_dir))
    monkeypatch.delenv("PIXELSHAP_CONFIG", raising=False)
    manager = TaskManager()
    task = get_task_dict(["pixelshap_human_layerwise"], manager)["pixelshap_human_layerwise"]
    assert isinstance(task, HumanLayerwiseTask) and task.LAYER_METRICS == ("hit_at_3",)
    assert task.settings.layerwise and task.settings.layers == "all" and task.settings.reference == "gold"
    monkeypatch.setenv("PIXELSHAP_CONFIG", "pixelshap_human.layerwise=true")
    with pytest.raises(ValueError, match="needs a layer-wise task"):
        get_task_dict(["pixelshap_human"], manager)
    monkeypatch.setenv("PIXELSHAP_CONFIG", "pixelshap_human_layerwise.layerwise=false")
    with pytest.raises(ValueError, match="it needs layerwise=true"):
        get_task_dict(["pixelshap_human_layerwise"], manager)
