"""Tiny random vision-language models saved once per test session (register with `pytest_plugins`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelshap_eval.testing.tiny_models import save_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory):
    """family -> folder of a saved tiny model, built on first use."""
    root = tmp_path_factory.mktemp("tiny-models")
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = save_tiny_model(family, root / family)
        return built[family]

    return get
