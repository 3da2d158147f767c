"""Apply a policy to a run: one `Outcome` per rule and task, pass, fail or skip with why."""

from __future__ import annotations

from pixelshap_eval.checks.outcome import Outcome
from pixelshap_eval.checks.rules import OPERATORS, MaxRegression, Policy, PolicyError, Requirement
from pixelshap_eval.checks.sanity import randomisation_outcomes
from pixelshap_eval.leaderboard.comparable import IncomparableError, differences
from pixelshap_eval.leaderboard.paired import regression_p_value
from pixelshap_eval.leaderboard.scores import TaskScores
from pixelshap_eval.leaderboard.shortcuts import OFF_TARGET_RATE, summarise


def run_checks(run: list[TaskScores], policy: Policy, baseline: list[TaskScores] | None = None, randomised: list[TaskScores] | None = None) -> list[Outcome]:
    """Every rule of `policy` on `run`. PolicyError: a rule names a metric no task has, or a
    regression rule has no baseline; IncomparableError: baseline or randomised run differ."""
    outcomes: list[Outcome] = []
    for rule in policy.requirements:
        outcomes += _requirement(run, rule)
    if policy.regressions and baseline is None:
        raise PolicyError("--max-regression rules need --baseline RUN")
    for reg in policy.regressions:
        outcomes += _regression(run, _paired_tasks(run, baseline or [], "baseline"), reg, policy.alpha)
    if randomised is not None:
        outcomes += randomisation_outcomes(_paired_tasks(run, randomised, "randomised"), policy.sanity, policy.alpha)
    return outcomes


def _tasks_for(run: list[TaskScores], task: str | None, metric: str) -> list[TaskScores]:
    tasks = [t for t in run if (task is None or t.task == task) and (metric == OFF_TARGET_RATE or metric in t.higher_is_better)]
    if not tasks:
        scope = f"task {task}" if task else "any task"
        names = sorted({m for t in run for m in t.metric_names()} | {OFF_TARGET_RATE})
        raise PolicyError(f"no {metric!r} in {scope} of the run (tasks: {[t.task for t in run]}; metrics: {names})")
    return tasks


def _requirement(run: list[TaskScores], rule: Requirement) -> list[Outcome]:
    outcomes = []
    for task in _tasks_for(run, rule.task, rule.metric):
        name = f"{task.task}:{rule.metric}{rule.op}{rule.threshold:g}"
        if rule.metric == OFF_TARGET_RATE:
            summary = summarise(task)
            value, detail = summary.off_target_rate, f" ({summary.headline()})"
            if value is None:
                outcomes.append(Outcome("require", name, "skip", f"{task.task}: {summary.headline()}"))
                continue
        elif not task.scores_of(rule.metric):
            outcomes.append(Outcome("require", name, "fail", f"{task.task}: no document has a defined {rule.metric} score"))
            continue
        else:
            aggregate = task.aggregate(rule.metric)
            value = aggregate.mean
            detail = f" ± {aggregate.stderr:.3f} over {aggregate.n} documents" if aggregate.stderr is not None else f" over {aggregate.n} documents"
        ok = OPERATORS[rule.op](value, rule.threshold)
        outcomes.append(Outcome("require", name, "pass" if ok else "fail", f"{task.task} {rule.metric} = {value:.3f}{detail}; required {rule.op} {rule.threshold:g}"))
    if all(o.status == "skip" for o in outcomes):
        outcomes.append(Outcome("require", str(rule), "fail", f"{rule}: no task of the run could be judged"))
    return outcomes


def _paired_tasks(run: list[TaskScores], other: list[TaskScores], role: str) -> list[tuple[TaskScores, TaskScores]]:
    """(run task, other run's task) for the tasks both have; IncomparableError names differences.
    The model name and weights may differ; settings, dataset and versions may not."""
    by_name = {t.task: t for t in other}
    pairs = []
    for task in run:
        match = by_name.get(task.task)
        if match is None:
            continue
        found = differences(task, match)
        if found:
            raise IncomparableError(f"{task.task}: the {role} run is not comparable: " + "; ".join(found))
        pairs.append((task, match))
    if not pairs:
        raise IncomparableError(f"the {role} run shares no task with the run (run: {[t.task for t in run]}; {role}: {sorted(by_name)})")
    return pairs


def _regression(run: list[TaskScores], pairs: list[tuple[TaskScores, TaskScores]], rule: MaxRegression, alpha: float) -> list[Outcome]:
    _tasks_for(run, rule.task, rule.metric)
    outcomes = []
    for task, base in pairs:
        a, b = task.scores_of(rule.metric), base.scores_of(rule.metric)
        if (rule.task and task.task != rule.task) or not b:
            continue  # nothing to regress from
        shared = sorted(set(a) & set(b))
        name = f"{task.task}:{rule.metric} regression<={rule.margin:g}"
        if not shared:
            outcomes.append(Outcome("regression", name, "fail", f"{task.task}: the baseline has {rule.metric} scores, the run none on the same documents"))
            continue
        sign = 1.0 if task.higher_is_better.get(rule.metric, True) else -1.0
        cand, ref = [sign * a[k] for k in shared], [sign * b[k] for k in shared]
        p = regression_p_value(cand, ref, rule.margin)
        gap = sum(a[k] - b[k] for k in shared) / len(shared)
        ok = p >= alpha
        verdict = "no significant regression" if ok else "significant regression"
        outcomes.append(Outcome(
            "regression", name, "pass" if ok else "fail",
            f"{task.task} {rule.metric}: run - baseline = {gap:+.3f} on {len(shared)} shared documents; "
            f"p = {p:.4f} for a regression beyond {rule.margin:g} ({verdict} at alpha {alpha:g})",
        ))
    return outcomes
