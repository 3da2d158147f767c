"""Shortcut report: a model that answers from a fixed region is flagged off-target, with the
position it relied on named; equal reliance and missing standard errors are not guessed at."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pixelshap_eval.cli import main
from pixelshap_eval.leaderboard.scores import Evidence, Player, load_run_scores
from pixelshap_eval.leaderboard.shortcuts import judge, position, relative_size, summarise
from pixelshap_eval.report.html import render_report
from pixelshap_eval.report.runs import load_run

BOX = (0.0, 0.0, 10.0, 10.0)


def evidence(values, std_errors, target=0) -> Evidence:
    players = tuple(Player(f"p{i}", BOX) for i in range(len(values)))
    return Evidence(tuple(values), tuple(std_errors), players, target, (64, 64))


@pytest.mark.e2e
def test_fixed_region_model_is_flagged_off_target_at_the_top_left(shortcut_run):
    (scores,) = load_run_scores(shortcut_run.output)
    summary = summarise(scores)
    assert summary.n_judged == summary.n_documents == len(shortcut_run.records("pixelshap_synth"))
    assert summary.off_target_rate is not None and summary.off_target_rate >= 0.8
    assert next(iter(summary.positions)) == "top left"
    assert "top left" in summary.headline()
    assert scores.dataset_fingerprint and scores.dataset_fingerprint.startswith("sha256:")
    assert scores.versions["pixelshap-eval"] and scores.versions["lmms-eval"] == "0.7.3"


def test_demo_toy_model_is_on_target_and_kernel_minimum_budget_is_unavailable(demo_runs):
    by_task = {s.task: s for s in load_run_scores(demo_runs.runs[0].root)}
    exact = summarise(by_task["pixelshap_synth"])
    assert exact.off_target_rate is not None and exact.off_target_rate <= 0.1
    kernel_scores = by_task["pixelshap_synth_kernel"]
    kernel = summarise(kernel_scores)
    without = sum(any(se is None for se in e.std_errors) for e in kernel_scores.evidence.values())
    assert without > 0 and kernel.n_unavailable == without
    assert kernel.unavailable_reasons == {"the estimator gave no standard errors": without}
    assert f"{without} not judged" in kernel.headline() or "unavailable" in kernel.headline()


@given(st.floats(-1, 1), st.floats(0, 0.5))
def test_equal_reliance_on_target_and_another_object_is_not_off_target(value, se):
    assert judge(evidence([value, value, value - 1], [se, se, se])).status == "on_target"


@given(st.floats(0.01, 1), st.floats(0, 1))
def test_a_gap_is_flagged_exactly_when_it_exceeds_the_combined_noise(gap, se):
    verdict = judge(evidence([0.0, gap], [se, se]))
    assert (verdict.status == "off_target") == (gap > 1.96 * math.hypot(se, se))
    assert verdict.relied_on == (1 if verdict.status == "off_target" else None)


def test_missing_standard_errors_make_the_judgement_unavailable():
    verdict = judge(evidence([0.0, 1.0], [None, None]))
    assert verdict.status == "unavailable" and "standard errors" in verdict.reason


def test_position_and_size_words():
    assert position((0, 0, 10, 10), (64, 64)) == "top left"
    assert position((50, 50, 10, 10), (64, 64)) == "bottom right"
    assert position((27, 27, 10, 10), (64, 64)) == "middle centre"
    assert relative_size((0, 0, 30, 30), (0, 0, 10, 10)) == "larger"
    assert relative_size((0, 0, 10, 10), (0, 0, 11, 11)) == "similar"
    assert relative_size((0, 0, 3, 3), (0, 0, 10, 10)) == "smaller"


@pytest.mark.e2e
def test_report_leaderboard_and_check_show_the_shortcut(shortcut_run, tmp_path, capsys):
    text = render_report([load_run(shortcut_run.output, "fixed region")], tmp_path / "report.html").read_text()
    assert "<h2>Shortcuts</h2>" in text and "top left" in text
    n = len(shortcut_run.records("pixelshap_synth"))
    assert main(["leaderboard", str(shortcut_run.output)]) == 0
    assert f"off-target on {n} of {n} judged documents" in capsys.readouterr().out
    assert main(["check", str(shortcut_run.output), "--require", "off_target_rate<=0.2"]) == 1
    assert "[fail] pixelshap_synth:off_target_rate<=0.2" in capsys.readouterr().out
