"""Leaderboards and submissions on the demo's two runs (toy model and its re-initialised copy)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from pixelshap_eval.cli import main
from pixelshap_eval.leaderboard.comparable import IncomparableError
from pixelshap_eval.leaderboard.inputs import load_inputs
from pixelshap_eval.leaderboard.render import render
from pixelshap_eval.leaderboard.submission import SubmissionError, read_submission
from pixelshap_eval.leaderboard.table import build_leaderboard

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs(demo_runs):
    return [run.root for run in demo_runs.runs]


@pytest.fixture(scope="module")
def submissions(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("submissions")
    paths = []
    for run in runs:
        path = out / f"{run.name}.json"
        assert main(["submit", str(run), "--out", str(path)]) == 0
        paths.append(path)
    return paths


def section(board, task):
    return next(s for s in board.sections if s.task == task)


def test_toy_model_ranks_above_its_reinitialised_copy_significantly(runs):
    board = build_leaderboard(load_inputs(runs))
    synth = section(board, "pixelshap_synth")
    assert [row.label for row in synth.rows] == ["toy_vlm", "toy-reinitialised"]
    (gap,) = synth.gaps
    assert gap.difference.mean > 0.5 and gap.significant and gap.difference.n == 12
    assert synth.references[0].label == "chance"
    assert synth.references[0].scores["recall_at_1"] == pytest.approx(synth.rows[1].aggregates["recall_at_1"].mean, abs=0.2)


def test_every_format_is_written(runs, tmp_path, capsys, demo_runs):
    baselines = f"synth={demo_runs.runs[0].root.parent.parent / 'data' / 'synth'}"
    assert main(["leaderboard", *map(str, runs), "--baselines", baselines]) == 0
    markdown = capsys.readouterr().out
    assert "| 1 | toy_vlm |" in markdown and "(significant)" in markdown and "central_object" in markdown
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"board.{fmt}"
        assert main(["leaderboard", *map(str, runs), "--out", str(out)]) == 0
        text = out.read_text()
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            assert {r["model"] for r in rows if r["task"] == "pixelshap_synth"} >= {"toy_vlm", "toy-reinitialised", "chance"}
        elif fmt == "json":
            data = json.loads(text)
            synth = next(s for s in data["sections"] if s["task"] == "pixelshap_synth")
            assert synth["neighbours"][0]["significant"] and synth["rows"][0]["dataset_fingerprint"].startswith("sha256:")
        else:
            assert text.startswith("<!DOCTYPE html>") and "toy-reinitialised" in text and "<script" not in text


def test_a_submission_gives_the_same_leaderboard_as_the_run(runs, submissions):
    from_runs = render(build_leaderboard(load_inputs(runs)), "json")
    from_files = render(build_leaderboard(load_inputs(submissions)), "json")
    strip = lambda text: [{**row, "source": None} for s in json.loads(text)["sections"] for row in s["rows"]]  # noqa: E731
    assert strip(from_runs) == strip(from_files)
    data = json.loads(submissions[0].read_text())  # no images: only settings, provenance, scores and attributions
    assert {key for t in data["tasks"] for key in t} == {"task", "settings", "dataset_fingerprint", "versions", "higher_is_better", "aggregates", "documents", "evidence"}
    assert {key for t in data["tasks"] for e in t["evidence"].values() for key in e} == {"values", "std_errors", "players", "target_index", "image_size"}


def test_a_submission_with_edited_aggregates_is_refused(submissions, tmp_path, capsys):
    data = json.loads(submissions[1].read_text())
    task = next(t for t in data["tasks"] if t["task"] == "pixelshap_synth")
    task["aggregates"]["recall_at_1"] = 0.99
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    with pytest.raises(SubmissionError, match=r"pixelshap_synth recall_at_1: stated 0.99"):
        read_submission(edited)
    assert main(["leaderboard", str(submissions[0]), str(edited)]) == 2
    assert "do not match its per-document scores" in capsys.readouterr().err


def test_incomparable_rows_are_refused_naming_the_difference_or_shown_apart(submissions, tmp_path, capsys):
    data = json.loads(submissions[1].read_text())
    for t in data["tasks"]:
        t["settings"]["estimator"] = "permutation"
    other = tmp_path / "other-settings.json"
    other.write_text(json.dumps(data))
    rows = load_inputs([submissions[0], other])
    with pytest.raises(IncomparableError, match=r"setting estimator: 'exact' vs 'permutation'"):
        build_leaderboard(rows)
    assert main(["leaderboard", str(submissions[0]), str(other)]) == 2
    assert "--allow-mixed" in capsys.readouterr().err
    board = build_leaderboard(rows, allow_mixed=True)
    synth = [s for s in board.sections if s.task == "pixelshap_synth"]
    assert len(synth) == 2 and all(s.mixed and len(s.rows) == 1 for s in synth)


def test_another_dataset_is_incomparable(submissions, tmp_path):
    data = json.loads(submissions[1].read_text())
    for t in data["tasks"]:
        t["dataset_fingerprint"] = "sha256:other"
    other = tmp_path / "other-data.json"
    other.write_text(json.dumps(data))
    with pytest.raises(IncomparableError, match="dataset fingerprint"):
        build_leaderboard(load_inputs([submissions[0], other]))


def test_bad_inputs_exit_2_with_one_message(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("{}")
    assert main(["leaderboard", str(tmp_path / "x.json")]) == 2
    assert "not a pixelshap submission" in capsys.readouterr().err
