"""Every task YAML's `higher_is_better` agrees with the one table of metric directions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pixelshap_eval.metrics import HIGHER_IS_BETTER

TASKS = Path(__file__).resolve().parents[1] / "tasks"


class _TaskLoader(yaml.SafeLoader):
    """Reads lmms-eval task YAMLs: `!function` tags become their dotted path."""


_TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _task_config(path: Path) -> dict:
    """A task YAML merged over the files it includes (lmms-eval's `include`)."""
    config = yaml.load(path.read_text(), Loader=_TaskLoader) or {}
    if "include" in config:
        config = {**_task_config(path.parent / config.pop("include")), **config}
    return config


TASK_FILES = sorted(p for p in TASKS.glob("*.yaml") if "task" in _task_config(p) and isinstance(_task_config(p)["task"], str))


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: p.stem)
def test_yaml_directions_match_the_table(path):
    metric_list = _task_config(path)["metric_list"]
    assert metric_list, path
    for entry in metric_list:
        assert entry["metric"] in HIGHER_IS_BETTER, f"{path.name}: {entry['metric']} has no direction in the table"
        assert entry["higher_is_better"] is HIGHER_IS_BETTER[entry["metric"]], f"{path.name}: {entry['metric']}"


def test_every_task_file_is_checked():
    assert {p.stem for p in TASK_FILES} >= {"pixelshap_coco", "pixelshap_human", "pixelshap_coco_faithfulness", "pixelshap_photos", "pixelshap_synth_igos"}


def test_deletion_aucs_and_the_trouble_counts_are_the_only_lower_is_better_metrics():
    assert sorted(name for name, higher in HIGHER_IS_BETTER.items() if not higher) == [
        "deletion_auc", "documents_failed", "documents_skipped", "igos_deletion_auc", "road_morf_auc"
    ]
