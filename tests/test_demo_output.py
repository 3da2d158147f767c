"""`pixelshap-eval demo --out` never deletes what a user had there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixelshap_eval.demo import MARKER, DemoSettings, OccupiedFolderError, claim_output_folder, run_demo


def test_a_folder_with_the_users_files_is_refused_before_any_work(tmp_path):
    (tmp_path / "runs" / "toy").mkdir(parents=True)
    (tmp_path / "runs" / "toy" / "notes.txt").write_text("mine")
    (tmp_path / "thesis.tex").write_text("mine too")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(OccupiedFolderError, match="already holds files the demo did not write"):
        run_demo(DemoSettings(out=tmp_path, scenes_per_type=1, photos=("chelsea",)))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "runs" / "toy" / "notes.txt").read_text() == "mine"


def test_new_empty_and_earlier_demo_folders_are_claimed(tmp_path):
    assert (claim_output_folder(tmp_path / "new" / "demo") / MARKER).is_file()
    (tmp_path / "empty").mkdir()
    assert (claim_output_folder(tmp_path / "empty") / MARKER).is_file()
    earlier = claim_output_folder(tmp_path / "earlier")
    (earlier / "report.html").write_text("old report")
    assert claim_output_folder(earlier) == earlier  # a demo's own folder is reused
    (tmp_path / "file").write_text("x")
    with pytest.raises(OccupiedFolderError, match="is a file"):
        claim_output_folder(tmp_path / "file")


def test_cli_says_so_in_one_line(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    done = subprocess.run([sys.executable, "-m", "pixelshap_eval.cli", "demo", "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.strip().startswith("pixelshap-eval demo: --out")
    assert "Traceback" not in done.stderr and (tmp_path / "keep.txt").read_text() == "mine"
