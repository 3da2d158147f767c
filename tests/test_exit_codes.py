"""Failures that looked like success: the `lmms_eval` command exits 1 when an evaluation failed
(lmms-eval 0.7.3 itself exits 0), and the plugin's own errors reach the user as one line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pixelshap_eval.hf_runner import check_model_source
from pixelshap_eval.lmms.checked_cli import one_line, raised_by_plugin

CHECKED = [shutil.which("lmms_eval") or "lmms_eval"]  # the installed command (pyproject [project.scripts])


def _error_from(function, *args) -> BaseException:
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 (the error itself is under test)
        return error
    raise AssertionError("no error raised")


def test_plugin_errors_are_told_apart_from_foreign_ones(tmp_path):
    ours = _error_from(check_model_source, tmp_path / "absent")
    assert raised_by_plugin(ours) and one_line(ours) == f"model folder {tmp_path / 'absent'} does not exist: check pretrained="
    foreign = _error_from(int, "x")
    assert not raised_by_plugin(foreign) and one_line(foreign).startswith("ValueError: invalid literal")


def test_model_source_errors_say_what_is_wrong(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_source("./models/llava")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        check_model_source(tmp_path / "empty")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="is a file, not a model folder"):
        check_model_source(tmp_path / "weights.bin")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="the Hub is offline"):
        check_model_source("llava-hf/llava-1.5-7b-hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    check_model_source("llava-hf/llava-1.5-7b-hf")  # a Hub id is left to transformers when online


@pytest.mark.e2e
def test_a_failed_run_exits_1_with_one_line(tmp_path):
    done = subprocess.run(
        [*CHECKED, "--model", "pixelshap_hf", "--model_args", f"pretrained={tmp_path / 'no-model'}", "--tasks", "pixelshap_synth",
         "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert done.returncode == 1
    assert f"pixelshap-eval: model folder {tmp_path / 'no-model'} does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("lmms_eval: the run failed, no results were written for it: model folder")
    assert not list((tmp_path / "out").glob("*/*_results.json"))


def test_an_unwritable_output_path_stops_before_any_model_loads(tmp_path):
    from pixelshap_eval.lmms.checked_cli import output_path_of

    assert output_path_of(["--tasks", "x", "--output_path", "runs/a"]) == Path("runs/a")
    assert output_path_of(["--output_path=runs/b/out.json"]) == Path("runs/b")
    assert output_path_of(["--tasks", "x"]) is None
    (tmp_path / "file").write_text("x")
    done = subprocess.run([*CHECKED, "--model", "pixelshap_hf", "--tasks", "pixelshap_synth", "--output_path", str(tmp_path / "file" / "runs")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"lmms_eval: --out {tmp_path / 'file' / 'runs'} lies below the file {tmp_path / 'file'}; choose a folder path"


def test_a_bad_embedder_path_is_refused_when_the_task_loads(tmp_path):
    from pixelshap_eval.lmms.config import load_config

    with pytest.raises(ValueError, match=r"embedder=.*model folder .* does not exist"):
        load_config("pixelshap_coco", {"embedder": str(tmp_path / "no-embedder")}, {})


def test_pixelshap_eval_commands_print_plugin_errors_in_one_line(tmp_path, monkeypatch, capsys):
    import functools

    from pixelshap_eval import cli, demo
    from pixelshap_eval.data.checks import check_output_location

    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(demo, "run_demo", lambda settings: functools.partial(check_output_location, tmp_path / "file" / "x")())
    assert cli.main(["demo", "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pixelshap-eval demo: --out") and err.endswith("(--debug shows the traceback)") and len(err.splitlines()) == 1
    with pytest.raises(FileExistsError):
        cli.main(["--debug", "demo", "--out", str(tmp_path / "d")])
