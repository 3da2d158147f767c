"""`pixelshap-eval check RUN [--baseline RUN] [--randomised RUN] [--policy FILE] [--require R] [--max-regression R]`.

Exit status: 0 every check passed (or was skipped with a reason), 1 a check failed, 2 usage
error or incomparable runs, so a release pipeline can act on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="gate a release: thresholds, paired regressions against a baseline run, randomisation sanity, shortcuts",
        description="RUN (and --baseline/--randomised) are lmms-eval --output_path folders made with --log_samples, or "
        "submission files. Exit status: 0 pass, 1 a check failed, 2 usage error or incomparable runs.",
    )
    parser.add_argument("run_path", type=Path, metavar="RUN")
    parser.add_argument("--baseline", type=Path, metavar="RUN", help="the run regressions are judged against (paired on shared documents)")
    parser.add_argument("--randomised", type=Path, metavar="RUN", help="the same model with randomised weights: the sanity check")
    parser.add_argument("--policy", type=Path, metavar="FILE.yaml", help="a release policy (rules, alpha, sanity settings)")
    parser.add_argument("--require", action="append", default=[], metavar="RULE", help='e.g. "recall_at_1>=0.45", "off_target_rate<=0.2"')
    parser.add_argument("--max-regression", action="append", default=[], metavar="RULE", help='e.g. "recall_at_1=0.02"')
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write a markdown summary here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pixelshap_eval.checks.gate import run_checks
    from pixelshap_eval.checks.outputs import summary, write_junit, write_markdown
    from pixelshap_eval.checks.rules import Policy, load_policy, parse_regression, parse_requirement
    from pixelshap_eval.leaderboard.inputs import load_inputs

    try:
        policy = load_policy(args.policy) if args.policy else Policy()
        policy = policy.merged(Policy([parse_requirement(r) for r in args.require], [parse_regression(r) for r in args.max_regression]))
        if not (policy.requirements or policy.regressions or args.randomised):
            raise ValueError("nothing to check: give --require, --max-regression, --randomised or a --policy with rules")
        run_scores = load_inputs([args.run_path])
        baseline = load_inputs([args.baseline]) if args.baseline else None
        randomised = load_inputs([args.randomised]) if args.randomised else None
        outcomes = run_checks(run_scores, policy, baseline=baseline, randomised=randomised)
    except (FileNotFoundError, ValueError) as error:  # PolicyError, IncomparableError, SubmissionError are ValueErrors
        print(f"pixelshap-eval check: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(summary(outcomes, str(args.run_path)))
    if args.junit:
        write_junit(outcomes, args.junit)
    if args.markdown:
        write_markdown(outcomes, str(args.run_path), args.markdown)
    return EXIT_FAIL if any(o.failed for o in outcomes) else EXIT_PASS
