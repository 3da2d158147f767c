"""Release checks on the demo's runs: thresholds, paired regressions, sanity, exit codes, CI files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib import resources

import pytest
from lmms_runs import run_lmms

from pixelshap_eval.checks.rules import PolicyError, load_policy, parse_regression, parse_requirement
from pixelshap_eval.cli import main
from pixelshap_eval.toy import TOY_MODEL_DIR

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs(demo_runs):
    return [str(run.root) for run in demo_runs.runs]


def test_threshold_passes_for_the_toy_run_and_fails_for_the_reinitialised_run(runs, capsys):
    toy, reinit = runs
    assert main(["check", toy, "--require", "recall_at_1>=0.9"]) == 0
    assert main(["check", reinit, "--require", "recall_at_1>=0.9"]) == 1
    assert "[fail] pixelshap_synth:recall_at_1>=0.9" in capsys.readouterr().out


def test_the_reinitialised_run_is_a_regression_against_the_toy_run(runs, tmp_path, capsys):
    toy, reinit = runs
    junit, markdown = tmp_path / "check.xml", tmp_path / "check.md"
    code = main(["check", reinit, "--baseline", toy, "--max-regression", "recall_at_1=0.02", "--junit", str(junit), "--markdown", str(markdown)])
    assert code == 1
    assert "significant regression" in capsys.readouterr().out
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) == int(suite.get("tests")) == 2
    assert "**FAIL**" in markdown.read_text()
    assert main(["check", toy, "--baseline", toy, "--max-regression", "recall_at_1=0.02"]) == 0


def test_randomisation_sanity_and_shortcut_gate_pass_for_the_toy_model(runs, capsys):
    toy, reinit = runs
    code = main(["check", toy, "--randomised", reinit, "--require", "pixelshap_synth:off_target_rate<=0.2", "--require", "recall_at_1>=0.9"])
    out = capsys.readouterr().out
    assert "pixelshap_synth:randomisation rank correlation" in out and "pixelshap_synth:randomisation recall_at_1 gap" in out
    # the photos task has one document: the sanity test cannot pass on it and says so
    assert code == 1 and "[fail] pixelshap_photos:randomisation" in out
    assert "[fail] pixelshap_synth" not in out


def test_the_shipped_example_policy_gates_the_demo(runs, capsys):
    toy, reinit = runs
    policy = resources.files("pixelshap_eval.checks") / "release_policy.yaml"
    assert load_policy(policy).requirements
    assert main(["check", toy, "--policy", str(policy), "--baseline", toy, "--randomised", reinit]) == 0
    assert main(["check", reinit, "--policy", str(policy), "--baseline", toy, "--randomised", reinit]) == 1


def test_usage_errors_exit_2(runs, tmp_path, capsys):
    toy, reinit = runs
    assert main(["check", toy, "--require", "nonsense"]) == 2
    assert main(["check", toy, "--require", "foo>=1"]) == 2
    assert main(["check", toy, "--max-regression", "recall_at_1=0.02"]) == 2
    assert main(["check", toy]) == 2
    err = capsys.readouterr().err
    assert "METRIC<op>VALUE" in err and "no 'foo'" in err and "need --baseline" in err and "nothing to check" in err


def test_rule_parsing():
    assert str(parse_requirement("pixelshap_synth:recall_at_1 >= 0.45")) == "pixelshap_synth:recall_at_1>=0.45"
    rule = parse_regression("deletion_auc=0.02")
    assert rule.task is None and rule.metric == "deletion_auc" and rule.margin == 0.02
    with pytest.raises(PolicyError, match="MARGIN"):
        parse_regression("recall_at_1>0.2")


def test_a_bad_policy_file_is_named(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("require: [recall_at_1>=0.5]\nthreshold: 3\n")
    with pytest.raises(PolicyError, match="keys from"):
        load_policy(path)


def test_randomised_weights_of_any_model_through_lmms_eval_pass_the_sanity_check(demo_runs, tmp_path, capsys):
    """`pixelshap_hf randomize=full` on the toy model's own weights: the sanity check tells the runs apart."""
    data = demo_runs.runs[0].root.parent.parent / "data"
    args = ["--model", "pixelshap_hf", "--model_args", f"pretrained={TOY_MODEL_DIR},dtype=float32,randomize=full,randomize_seed=1",
            "--batch_size", "64", "--tasks", "pixelshap_synth"]
    randomised = run_lmms(args, tmp_path / "randomised", {"PIXELSHAP_DATA_DIR": str(data), "PIXELSHAP_CONFIG": "heatmaps=false"}, cwd=tmp_path)
    assert randomised.metric("pixelshap_synth", "recall_at_1") < 0.6
    code = main(["check", str(demo_runs.runs[0].root), "--randomised", str(randomised.output)])
    out = capsys.readouterr().out
    assert code == 0 and "[pass] pixelshap_synth:randomisation rank correlation" in out and "[pass] pixelshap_synth:randomisation recall_at_1 gap" in out
