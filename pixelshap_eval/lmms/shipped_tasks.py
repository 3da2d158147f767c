"""The shipped task YAMLs as data: each task's name and `pixelshap:` block. They let a
`PIXELSHAP_CONFIG` be checked in full (scopes and values, for every task) when the plugin
registers, before lmms-eval loads a model, and give task builds the list of known task names."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pixelshap_eval.lmms.config import ENV_VAR, load_config, scopes_in


class _TaskLoader(yaml.SafeLoader):
    """Reads lmms-eval task YAMLs without importing what `!function` names."""


def _function_name(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node)) if isinstance(node, yaml.ScalarNode) else ""


_TaskLoader.add_constructor("!function", _function_name)


def tasks_dir() -> Path:
    """The folder holding the plugin's task YAMLs (inside the installed package)."""
    return Path(str(resources.files("pixelshap_eval.tasks")))


@cache
def shipped_blocks() -> dict[str, dict[str, Any]]:
    """Task name -> its `pixelshap:` settings block, for every shipped task (groups excluded)."""
    blocks: dict[str, dict[str, Any]] = {}
    for path in sorted(tasks_dir().glob("*.yaml")):
        config = _load(path)
        if isinstance(config.get("task"), str) and isinstance(config.get("pixelshap"), dict):
            blocks[config["task"]] = dict(config["pixelshap"])
    return blocks


def known_task_names() -> frozenset[str]:
    return frozenset(shipped_blocks())


def check_environment(environ: dict[str, str]) -> None:
    """Check `environ`'s `PIXELSHAP_CONFIG` against every shipped task, so that a typo in a scope
    or an option, or a bad value (`fill=pink`), stops the run before any model loads. An error is
    raised for a setting scoped to a task that cannot take it, or one that no task can take
    (a global `reference=gold` is fine: the log-probability tasks take it)."""
    spec = environ.get(ENV_VAR)
    if not spec:
        return
    names = known_task_names()
    errors: dict[str, Exception] = {}
    for name, block in shipped_blocks().items():
        try:
            load_config(name, block, environ, known_tasks=names)
        except ValueError as error:
            errors[name] = error
    scoped = sorted(set(errors) & scopes_in(spec))
    if scoped:
        raise ValueError(f"task {scoped[0]}: {errors[scoped[0]]}") from errors[scoped[0]]
    if errors and len(errors) == len(names):
        raise next(iter(errors.values()))


def _load(path: Path) -> dict[str, Any]:
    config = yaml.load(path.read_text(), Loader=_TaskLoader) or {}
    if not isinstance(config, dict):
        return {}
    if "include" in config:
        config = {**_load(path.parent / str(config.pop("include"))), **config}
    return config
