"""Installed as a wheel (not only editable), the plugin ships its task YAMLs and toy model, and
lmms-eval finds its tasks with no flags; `--include_path` keeps working as a fallback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from lmms_runs import run_lmms

from pixelshap_eval.lmms.registration import tasks_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv") or "uv"  # the environment's own uv (pinned by the lock's test extra)
TASK_FILES = sorted(p.name for p in (REPO_ROOT / "tasks").iterdir() if p.suffix == ".yaml" or p.name.endswith("_yaml"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [UV, "build", "--wheel", "--no-build-isolation", "--python", sys.executable, "-q", "-o", str(out), str(REPO_ROOT)],
        check=True, capture_output=True, text=True,
    )
    return next(out.glob("pixelshap_eval-*.whl"))


@pytest.fixture(scope="module")
def wheel_python(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; the heavy dependencies come from this environment's
    site-packages through a plain path entry (whose .pth files, the editable install's among
    them, are not processed)."""
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([UV, "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)], check=True)
    return python


def test_wheel_ships_the_task_yamls(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for task_file in TASK_FILES:
        assert f"pixelshap_eval/tasks/{task_file}" in names
    assert "pixelshap_eval/lmms/registration.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[lmms_eval.models]" in text and "pixelshap_eval.lmms.registration:register" in text


def test_wheel_ships_every_module_of_the_package(wheel):
    """A new subpackage that pyproject's package list misses would import in the checkout and
    fail in every installed copy."""
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO_ROOT / "pixelshap_eval"
    missing = sorted(
        str(path.relative_to(REPO_ROOT)) for path in package.rglob("*.py")
        if "evaluate_modules" not in path.parts and str(path.relative_to(REPO_ROOT)) not in names
    )
    assert not missing, f"add their packages to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_wheel_ships_the_lmms_eval_command_evaluate_modules_and_policy(wheel):
    from pixelshap_eval.evaluate_metrics import MODULES

    names = set(zipfile.ZipFile(wheel).namelist())
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "lmms_eval = pixelshap_eval.lmms.checked_cli:main" in entry_points  # the spelling the design's users type
    for module in MODULES:
        assert f"pixelshap_eval/evaluate_modules/{module}/{module}.py" in names
        assert f"pixelshap_eval/evaluate_modules/{module}/README.md" in names
    assert "pixelshap_eval/checks/release_policy.yaml" in names


def test_editable_install_serves_the_tasks_from_the_checkout():
    assert Path(tasks_dir()).resolve() == (REPO_ROOT / "tasks").resolve()


def test_lmms_eval_runs_a_task_from_the_installed_wheel(wheel_python, tiny_model_dirs, pixelshap_data_dir, coco_set_dir, tmp_path):
    where = subprocess.run([str(wheel_python), "-c", "import pixelshap_eval.lmms.registration as r; print(r.tasks_dir())"],
                           check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert str(wheel_python.parent.parent) in where, f"tasks came from {where}, not the wheel"
    model = tiny_model_dirs("llava")
    env = {"PIXELSHAP_DATA_DIR": str(pixelshap_data_dir), "PIXELSHAP_CONFIG": "max_players=4,budget=10,heatmaps=false"}
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={model},device=cpu,dtype=float32",
            "--tasks", "pixelshap_coco", "--limit", "1", "--gen_kwargs", "max_new_tokens=3"]
    run = run_lmms(args, tmp_path / "plain", env, command=[str(wheel_python), "-m", "lmms_eval"], cwd=tmp_path)
    assert "recall_at_1,none" in run.results["results"]["pixelshap_coco"]
    fallback = run_lmms(
        [*args, "--include_path", where], tmp_path / "include-path", env, command=[str(wheel_python), "-m", "lmms_eval"], cwd=tmp_path
    )
    assert fallback.records("pixelshap_coco")[0]["values"] == run.records("pixelshap_coco")[0]["values"]
    assert os.path.isfile(Path(where) / "pixelshap_coco.yaml")
