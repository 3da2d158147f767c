"""The set-up: the committed lock, the checkout's own environment, the lmms-eval version check."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement
from script_modules import load_script

import pixelshap_eval
from pixelshap_eval.lmms import registration

ROOT = Path(__file__).resolve().parent.parent
LOCK_TEXT = (ROOT / "requirements.lock").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _load_lock_tool():
    return load_script("lock", "lock_tool")


lock_tool = _load_lock_tool()


def _requirement(name: str) -> Requirement:
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"pyproject.toml declares no {name}")


def test_pixelshap_eval_is_imported_from_the_checkout_under_test():
    assert Path(pixelshap_eval.__file__).resolve().parent == ROOT / "pixelshap_eval"
    assert Path(sys.prefix).resolve() == (ROOT / ".venv").resolve(), "tests run in this checkout's .venv"


def test_the_environment_holds_exactly_the_lock():
    wanted = {name: version for name, version, marker in lock_tool.requirements(LOCK_TEXT) if marker is None or Marker(marker).evaluate()}
    installed = {re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version for dist in metadata.distributions()}
    installed.pop("pixelshap-eval")  # the checkout itself, editable
    assert installed == wanted


def test_every_pin_is_exact_and_hashed_and_no_host_is_named():
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK_TEXT.split("\n", 2)[2])
    assert len(blocks) == len(lock_tool.requirements(LOCK_TEXT)) > 100
    for block in blocks:
        assert "==" in block.splitlines()[0] and "--hash=sha256:" in block, block[:200]
    for name in ("requirements.lock", "lock-constraints.txt", "scripts/uv-bootstrap.lock"):
        text = (ROOT / name).read_text()
        assert not re.search(r"https?://|index-url|find-links|file:", text), name


def test_the_lock_matches_pyproject():
    """Recompiling the lock (uv keeps its pins as preferences) reproduces it; else relock."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_lock_covers_build_requirements_and_the_pinned_torch():
    locked = lock_tool.pins(LOCK_TEXT)
    for line in PYPROJECT["build-system"]["requires"]:
        requirement = Requirement(line)
        assert any(requirement.specifier.contains(v) for v in locked[requirement.name]), line
    constraints = [Requirement(line) for line in (ROOT / "lock-constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert {c.name for c in constraints} >= {"torch", "torchvision"}
    for constraint in constraints:
        assert all(constraint.specifier.contains(v) for v in locked[constraint.name]), constraint


def test_uv_bootstrap_is_the_locked_uv():
    bootstrap = lock_tool.pins((ROOT / "scripts" / "uv-bootstrap.lock").read_text())
    assert bootstrap["uv"] == lock_tool.pins(LOCK_TEXT)["uv"]


def test_filelock_bound_is_what_lmms_eval_needs():
    bound = _requirement("filelock").specifier
    assert "4.3.1" not in bound and "3.15.3" not in bound and "3.15.4" in bound and "4.2.12" in bound
    assert metadata.version("filelock") in bound
    from lmms_eval.evaluator import _enable_reentrant_filelocks

    _enable_reentrant_filelocks()  # what failed with filelock 4.3.1: ModuleNotFoundError filelock._api


def test_diff_names_changed_packages():
    old = "a==1.0 \\\n    --hash=sha256:00\nb==2.0 ; python_version < '3.11' \\\nb==2.1 ; python_version >= '3.11' \\\n"
    new = "a==1.1 \\\n    --hash=sha256:01\nb==2.0 ; python_version < '3.11' \\\nb==2.1 ; python_version >= '3.11' \\\nc==3 \\\n"
    assert lock_tool.diff(old, new) == ["a: 1.0 -> 1.1", "c: (absent) -> 3"]
    assert lock_tool.diff(new, old) == ["a: 1.1 -> 1.0", "c: 3 -> (removed)"]


def test_lmms_eval_version_check(monkeypatch):
    assert registration.check_lmms_eval_version() == metadata.version("lmms-eval")
    monkeypatch.setattr(registration, "installed_lmms_eval_version", lambda: "0.8.0")
    with pytest.raises(registration.UnsupportedLmmsEval, match=r"lmms-eval 0\.8\.0 is installed.*supports lmms-eval ==0\.7\.3"):
        registration.register()


def test_an_unsupported_lmms_eval_stops_the_cli_with_one_line(tmp_path):
    """lmms-eval turns entry-point exceptions into warnings; the version error must still stop it."""
    fake = tmp_path / "sitecustomize.py"
    fake.write_text("import pixelshap_eval.lmms.registration as r\nr.installed_lmms_eval_version = lambda: '0.9.1'\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sitecustomize, lmms_eval.models"],
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "lmms-eval 0.9.1 is installed" in done.stderr and "Traceback" not in done.stderr
