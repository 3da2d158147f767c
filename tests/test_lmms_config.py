"""Task settings: the YAML block, budgets, and the PIXELSHAP_CONFIG run-time overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from pixelshap_eval.lmms.config import ENV_VAR, AttributionConfig, budget_for, load_config, overrides_for
from pixelshap_eval.lmms.documents import doc_seed
from pixelshap_eval.lmms.registration import BadSettings, check_settings, tasks_dir
from pixelshap_eval.lmms.shipped_tasks import check_environment, known_task_names
from pixelshap_eval.masking import Masker
from pixelshap_eval.shapley import get_estimator

TASKS_DIR = Path(tasks_dir())
KNOWN = known_task_names()


@pytest.mark.parametrize(
    ("budget", "n", "expected"),
    [(64, 5, 64), ("64", 5, 64), ("auto", 5, None), ("2n+2", 5, 12), ("n", 7, 7), ("3n", 4, 12), ("4 n + 1", 2, 9)],
)
def test_budget_formulas(budget, n, expected):
    assert budget_for(budget, n) == expected


def test_budget_formula_errors_say_what_is_understood():
    with pytest.raises(ValueError, match="formula like '2n\\+2'"):
        budget_for("n^2", 4)


def test_inline_overrides_apply_globally_and_per_task():
    spec = "budget=64,seed=3,pixelshap_human.estimator=permutation,pixelshap_coco.budget=8"
    assert overrides_for("pixelshap_coco", spec, KNOWN) == {"budget": 8, "seed": 3}
    assert overrides_for("pixelshap_human", spec, KNOWN) == {"budget": 64, "seed": 3, "estimator": "permutation"}


def test_file_overrides(tmp_path):
    path = tmp_path / "pixelshap.yaml"
    path.write_text("fill: blur\npixelshap_coco:\n  strategy: precise\n")
    config = load_config("pixelshap_coco", {"strategy": "bboa", "fill": "black"}, {ENV_VAR: str(path)})
    assert (config.strategy, config.fill) == ("precise", "blur")
    other = load_config("pixelshap_coco_bbox", {"strategy": "bbox"}, {ENV_VAR: str(path)}, known_tasks=KNOWN)
    assert (other.strategy, other.fill) == ("bbox", "blur")


def test_types_are_coerced_from_text():
    config = load_config("t", {}, {ENV_VAR: "heatmaps=false,max_players=4,budget=2n+2"})
    assert config.heatmaps is False and config.max_players == 4 and budget_for(config.budget, 3) == 8


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bugdet=4", "unknown pixelshap option"),
        ("value=probability", "value='probability' is not one of"),
        ("budget", "is not key=value"),
        ("reference=gold", "reference=gold needs value=logprob"),
        ("/no/such/file.yaml", "does not exist"),
    ],
)
def test_bad_overrides_give_one_clear_error(spec, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_config("pixelshap_coco", {}, {ENV_VAR: spec})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pixelshap_cocoo.budget=12", r"scopes settings to 'pixelshap_cocoo', which is no pixelshap task; known tasks: \[.*'pixelshap_coco'"),
        ("pixelshap_human.bugdet=12", r"unknown pixelshap option\(s\) \['bugdet'\] in PIXELSHAP_CONFIG scope pixelshap_human"),
        ("fill=pink", "unknown fill 'pink'"),
        ("pixelshap_human.fill=pink", "unknown fill 'pink'"),
        ("estimator=shap", "estimator='shap' is not one of"),
        ("grid_rows=0", "grid_rows must be >= 1"),
    ],
)
def test_every_setting_is_checked_for_every_task_before_a_model_loads(spec, message):
    """A typo scoped to another task, or a bad value for a task not being run, is still an error."""
    with pytest.raises(ValueError, match=message):
        check_environment({ENV_VAR: spec})


def test_a_task_build_rejects_a_scope_that_names_no_task():
    with pytest.raises(ValueError, match="'pixelshap_cocoo', which is no pixelshap task"):
        load_config("pixelshap_coco", {}, {ENV_VAR: "pixelshap_cocoo.budget=12"}, known_tasks=KNOWN)
    assert load_config("my_task", {}, {ENV_VAR: "my_task.budget=12"}, known_tasks=KNOWN).budget == 12


def test_good_settings_pass_the_load_check():
    check_environment({ENV_VAR: "budget=64,pixelshap_coco_logprob.reference=gold,pixelshap_human.estimator=permutation"})
    check_environment({ENV_VAR: "reference=gold"})  # the log-probability tasks take it: the run decides
    with pytest.raises(ValueError, match="task pixelshap_coco: .*reference=gold needs value=logprob"):
        check_environment({ENV_VAR: "pixelshap_coco.reference=gold"})
    assert {"pixelshap_coco", "pixelshap_human", "pixelshap_coco_faithfulness"} <= KNOWN


def test_plugin_registration_stops_on_bad_settings(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "pixelshap_cocoo.budget=12")
    with pytest.raises(BadSettings, match="^pixelshap-eval: .*no pixelshap task"):
        check_settings()


def _task_configs() -> dict[str, dict]:
    """Every shipped task YAML merged over the files it includes."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))

    def load(path: Path) -> dict:
        config = yaml.load(path.read_text(), Loader=Loader) or {}
        if "include" in config:
            config = {**load(path.parent / config.pop("include")), **config}
        return config

    return {path.stem: load(path) for path in sorted(TASKS_DIR.glob("pixelshap_*.yaml")) if path.stem != "pixelshap"}


def test_defaults_are_greedy_and_reproducible():
    config = AttributionConfig()
    assert config.seed == 0 and config.value == "similarity" and config.strategy == "bboa"
    # greedy: every shipped task decodes without sampling, so one image always gets one answer
    tasks = _task_configs()
    assert len(tasks) >= 10
    for name, task in tasks.items():
        generation = task["generation_kwargs"]
        assert generation["do_sample"] is False and generation["temperature"] == 0, name
    # reproducible: a document's plan is a pure function of the settings and its question id
    def plan(key: str):
        return get_estimator(config.estimator).plan(10, budget_for(config.budget, 10), doc_seed(config.seed, key))

    assert np.array_equal(plan("q1").masks, plan("q1").masks)
    assert not np.array_equal(plan("q1").masks, plan("q2").masks)


def test_masking_settings_reach_the_masker_from_yaml_and_environment():
    config = load_config("pixelshap_coco", {"fill": "blur", "strategy": "precise"}, {ENV_VAR: "blur_radius=2.5,dilation=3"})
    assert config.masker == Masker(strategy="precise", fill="blur", dilation=3, box_margin=2, blur_radius=2.5)
    with pytest.raises(ValueError, match="blur_radius must be positive"):
        load_config("pixelshap_coco", {"fill": "blur"}, {ENV_VAR: "blur_radius=0"})
    with pytest.raises(ValueError, match="unknown fill"):
        load_config("pixelshap_coco", {"fill": "white"}, {})
