"""The model-parameter randomisation test: attributions of a model whose weights were
re-initialised must differ from the trained model's, and score significantly worse.

Per shared document, the Spearman rank correlation of the two attributions over the same
players; its mean must be significantly below `max_rank_correlation` (one-sided paired
bootstrap). The metric gap (trained - randomised, oriented so higher is better) must be
significantly above zero (two-sided paired bootstrap, positive mean). A constant attribution
has no ranking and counts as correlation 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

from pixelshap_eval.checks.outcome import Outcome
from pixelshap_eval.checks.rules import Sanity
from pixelshap_eval.leaderboard.paired import paired_difference, regression_p_value
from pixelshap_eval.leaderboard.scores import TaskScores

MIN_PLAYERS = 3  # fewer players leave a rank correlation of only a few possible values


def rank_correlations(trained: TaskScores, randomised: TaskScores) -> list[float]:
    """Spearman correlation per shared document with the same players in both runs."""
    found = []
    for key in sorted(set(trained.evidence) & set(randomised.evidence)):
        a, b = trained.evidence[key], randomised.evidence[key]
        if len(a.values) != len(b.values) or len(a.values) < MIN_PLAYERS:
            continue
        if np.ptp(a.values) == 0 or np.ptp(b.values) == 0:
            found.append(0.0)
            continue
        rho = float(spearmanr(a.values, b.values).statistic)
        found.append(0.0 if math.isnan(rho) else rho)
    return found


def randomisation_outcomes(pairs: list[tuple[TaskScores, TaskScores]], sanity: Sanity, alpha: float) -> list[Outcome]:
    outcomes = []
    for trained, randomised in pairs:
        if sanity.tasks and trained.task not in sanity.tasks:
            continue
        rhos = rank_correlations(trained, randomised)
        name = f"{trained.task}:randomisation"
        if not rhos:
            outcomes.append(Outcome("sanity", name + " rank correlation", "skip", f"{trained.task}: no shared document with {MIN_PLAYERS}+ players"))
        else:
            p = regression_p_value(rhos, [sanity.max_rank_correlation] * len(rhos), 0.0)
            ok = p < alpha
            outcomes.append(Outcome(
                "sanity", name + " rank correlation", "pass" if ok else "fail",
                f"{trained.task}: mean Spearman correlation of trained and randomised attributions {np.mean(rhos):.3f} on "
                f"{len(rhos)} documents; p = {p:.4f} that it is below {sanity.max_rank_correlation:g}",
            ))
        metric = sanity.metric or next(iter(m for m in trained.higher_is_better if trained.scores_of(m)), None)
        if metric is None or not trained.scores_of(metric):
            continue
        a, b = trained.scores_of(metric), randomised.scores_of(metric)
        shared = sorted(set(a) & set(b))
        if not shared:
            outcomes.append(Outcome("sanity", f"{name} {metric} gap", "fail", f"{trained.task}: no document scored by both runs"))
            continue
        sign = 1.0 if trained.higher_is_better.get(metric, True) else -1.0
        gap = paired_difference([sign * a[k] for k in shared], [sign * b[k] for k in shared])
        ok = gap.mean > 0 and gap.p_value < alpha
        outcomes.append(Outcome(
            "sanity", f"{name} {metric} gap", "pass" if ok else "fail",
            f"{trained.task} {metric}: trained - randomised = {sign * gap.mean:+.3f} ± {gap.stderr:.3f} on {gap.n} documents, p = {gap.p_value:.4f}",
        ))
    return outcomes
