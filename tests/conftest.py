"""Shared fixtures: where the real data lives, and offline settings for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["datasets_fixtures", "model_fixtures", "user_runs"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")


def find_shared_data() -> Path:
    """The read-only real data: $PIXELSHAP_SHARED_DATA, else ../shared/data beside the
    checkout, else /work/shared/data (where CI's temporary clones find it)."""
    candidates = [os.environ.get("PIXELSHAP_SHARED_DATA"), REPO_ROOT.parent / "shared" / "data", "/work/shared/data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "coco_tiny").is_dir():
            return Path(candidate)
    raise RuntimeError(
        "The real test data (coco_tiny/, patchwise_human/) was not found. Set PIXELSHAP_SHARED_DATA "
        f"to the folder that holds them; looked in: {[str(c) for c in candidates if c]}"
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return find_shared_data()
