"""How lmms-eval finds the plugin: the `lmms_eval.models` entry point runs `register()`.

lmms-eval 0.7.3 imports model entry points before it builds its task index, so `register()`
(1) adds the plugin's task folder to every `TaskManager`'s include path, making the
`pixelshap_*` tasks visible to `lmms-eval` and `python -m lmms_eval` with no flags;
(2) tells each pixelshap task whether the model is a chat or a simple model, so that it
builds requests in the form that model reads; and (3) registers the `pixelshap_hf` model and
the `pixelshap_store` wrapper (any model, with a durable response store).
`--include_path <site-packages>/pixelshap_eval/tasks` keeps working as a fallback.

This replaces two of lmms-eval's `TaskManager` methods, one of them private
(`_load_individual_task_or_group`), so it is tied to the lmms-eval releases it was tested with:
`register()` first checks the installed version against `SUPPORTED_LMMS_EVAL` and stops with one
clear error otherwise (a `SystemExit`, because lmms-eval turns an ordinary exception from an
entry point into a warning, and the run would then fail later with "task not found").
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from packaging.specifiers import SpecifierSet

from pixelshap_eval.lmms import shipped_tasks

# the lmms-eval releases whose TaskManager internals the hooks below were tested against
SUPPORTED_LMMS_EVAL = SpecifierSet("==0.7.3")

# model id -> class path of the plugin's simple (non-chat) lmms-eval models
MODEL_CLASSES = {
    "pixelshap_hf": "pixelshap_eval.lmms.hf_model.PixelShapHF",
    "pixelshap_store": "pixelshap_eval.lmms.stored_model.StoredResponses",
    "pixelshap_fixed_region": "pixelshap_eval.testing.fixed_region.FixedRegionModel",  # the shortcut case
}


def tasks_dir() -> str:
    """The folder holding the plugin's task YAMLs (inside the installed package)."""
    return str(shipped_tasks.tasks_dir())


class UnsupportedLmmsEval(SystemExit):
    """The installed lmms-eval is not one this plugin's task hooks were written for."""


def installed_lmms_eval_version() -> str:
    return metadata.version("lmms-eval")


def check_lmms_eval_version() -> str:
    """The installed lmms-eval version, or `UnsupportedLmmsEval` naming the supported range."""
    version = installed_lmms_eval_version()
    if version not in SUPPORTED_LMMS_EVAL:
        raise UnsupportedLmmsEval(
            f"pixelshap-eval: lmms-eval {version} is installed, but this pixelshap-eval supports lmms-eval "
            f"{SUPPORTED_LMMS_EVAL} only (it hooks lmms-eval's TaskManager internals). "
            f"Install a supported one: pip install 'lmms-eval{SUPPORTED_LMMS_EVAL}'"
        )
    return version


def register() -> list:
    """Entry point of the `lmms_eval.models` group: hooks the task manager, returns the models."""
    check_lmms_eval_version()
    from lmms_eval.models.registry_v2 import ModelManifest  # imported here: lmms_eval.models runs this

    check_settings()
    install_task_hooks()
    return [ModelManifest(model_id=name, simple_class_path=path) for name, path in MODEL_CLASSES.items()]


class BadSettings(SystemExit):
    """`PIXELSHAP_CONFIG` holds a setting no pixelshap task can run with."""


def check_settings() -> None:
    """Every shipped task's settings under `PIXELSHAP_CONFIG`, checked before any model loads;
    `BadSettings` (one line saying what is wrong) otherwise."""
    try:
        shipped_tasks.check_environment(dict(os.environ))
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise BadSettings(f"pixelshap-eval: {error}") from error


def install_task_hooks() -> None:
    """Patch `TaskManager` once per process (idempotent)."""
    from lmms_eval.tasks import TaskManager

    if getattr(TaskManager, "_pixelshap_hooked", False):
        return
    original_initialize = TaskManager.initialize_tasks
    original_load = TaskManager._load_individual_task_or_group

    def initialize_tasks(self, include_path=None, include_defaults: bool = True):
        paths = [] if include_path is None else [include_path] if isinstance(include_path, str) else list(include_path)
        ours = os.path.realpath(tasks_dir())
        if not any(os.path.realpath(str(p)) == ours for p in paths):
            paths.append(ours)
        return original_initialize(self, include_path=paths, include_defaults=include_defaults)

    def load_individual_task_or_group(self, name_or_config=None, task_type="simple", parent_name=None, update_config=None):
        loaded = original_load(self, name_or_config, task_type=task_type, parent_name=parent_name, update_config=update_config)
        from pixelshap_eval.lmms.base import CoalitionTask
        from pixelshap_eval.lmms.igos_task import IgosTask

        for task in _leaves(loaded):
            if isinstance(task, CoalitionTask):
                task.request_style = task_type
            if isinstance(task, IgosTask) and task_type != "simple":
                raise ValueError(f"{task.config.task} needs --model pixelshap_hf (iGOS computes gradients inside it); this is a chat model")
        return loaded

    TaskManager.initialize_tasks = initialize_tasks
    TaskManager._load_individual_task_or_group = load_individual_task_or_group
    TaskManager._pixelshap_hooked = True


def _leaves(loaded: Any):
    if isinstance(loaded, dict):
        for value in loaded.values():
            yield from _leaves(value)
    elif isinstance(loaded, tuple):
        for value in loaded:
            yield from _leaves(value)
    else:
        yield loaded
