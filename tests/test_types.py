"""mypy passes over the package: strict on the framework-free core (players, masking, shapley,
values, metrics, explain, images, grid, coco_masks), ordinary checks elsewhere. The
configuration lives in pyproject.toml ([tool.mypy])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CORE = {
    "pixelshap_eval.players",
    "pixelshap_eval.masking",
    "pixelshap_eval.shapley.*",
    "pixelshap_eval.values",
    "pixelshap_eval.metrics.*",
    "pixelshap_eval.explain",
}


def test_mypy_finds_no_error_in_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_the_core_is_checked_strictly():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["pixelshap_eval"]
    strict = [o for o in config["overrides"] if o.get("disallow_untyped_defs")]
    assert len(strict) == 1 and CORE <= set(strict[0]["module"])
    assert all(strict[0][flag] for flag in ("disallow_any_generics", "warn_return_any", "disallow_untyped_calls", "check_untyped_defs"))
