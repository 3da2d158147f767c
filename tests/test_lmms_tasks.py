"""Every shipped task YAML is indexed and builds through lmms-eval's own TaskManager; the group
`pixelshap` holds the five attribution tasks; bad set-ups fail with one clear error."""

from __future__ import annotations

from pathlib import Path

import lmms_eval.models  # noqa: F401  (loads the model entry points, as the CLI and simple_evaluate do)
import pytest
from lmms_eval.tasks import TaskManager, get_task_dict

from pixelshap_eval.data.locate import DatasetUnavailableError
from pixelshap_eval.lmms.task import AttributionTask

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"
SHIPPED = sorted(p.stem for p in TASKS_DIR.glob("pixelshap_*.yaml"))
GROUP = ["pixelshap_coco", "pixelshap_coco_bbox", "pixelshap_coco_logprob", "pixelshap_coco_precise", "pixelshap_human"]


@pytest.fixture(scope="module")
def manager() -> TaskManager:
    return TaskManager()


def test_every_shipped_task_and_the_group_are_indexed_with_no_flags(manager):
    assert set(SHIPPED) <= set(manager.all_tasks)
    assert "pixelshap" in manager.all_groups
    assert all(manager.task_index[name]["yaml_path"].startswith(str(TASKS_DIR)) for name in SHIPPED)


def test_the_group_builds_its_five_attribution_tasks(manager, monkeypatch, pixelshap_data_dir, coco_set_dir, human_set_dir):
    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(pixelshap_data_dir))
    tasks = get_task_dict(["pixelshap"], manager)
    (group, members), = tasks.items()
    assert group.group_name == "pixelshap"
    assert sorted(members) == GROUP
    assert all(isinstance(task, AttributionTask) for task in members.values())
    settings = {name: task.settings for name, task in members.items()}
    assert settings["pixelshap_coco_precise"].strategy == "precise" and settings["pixelshap_coco_bbox"].strategy == "bbox"
    assert settings["pixelshap_coco_logprob"].value == "logprob" and settings["pixelshap_human"].reference == "gold"


def test_a_missing_dataset_names_the_build_command(manager, monkeypatch, tmp_path):
    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="pixelshap-eval build coco"):
        get_task_dict(["pixelshap_coco"], manager)


def test_faithfulness_without_rankings_says_how_to_give_them(manager, monkeypatch, pixelshap_data_dir, coco_set_dir):
    monkeypatch.setenv("PIXELSHAP_DATA_DIR", str(pixelshap_data_dir))
    monkeypatch.delenv("PIXELSHAP_CONFIG", raising=False)
    with pytest.raises(ValueError, match="PIXELSHAP_CONFIG='rankings="):
        get_task_dict(["pixelshap_coco_faithfulness"], manager)


def test_task_yamls_name_the_documented_hub_ids():
    """The Hub ids in the task YAMLs are the ones the locator and the README document."""
    import yaml

    from pixelshap_eval.data.locate import DEFAULT_HUB_IDS

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    for path in [*TASKS_DIR.glob("*.yaml"), *TASKS_DIR.glob("*_yaml")]:
        config = yaml.load(path.read_text(), Loader=Loader)
        if "dataset_path" in config:
            dataset = (config.get("pixelshap") or {}).get("dataset", "human" if "human" in path.name else "coco")
            assert config["dataset_path"] == DEFAULT_HUB_IDS[dataset], path.name
