"""Shortcut report: documents where the model relied on something other than the target.

A model can answer correctly for the wrong reason. Per document, a non-target player is
*relied on* when its Shapley value exceeds the target's by more than `Z` combined standard
errors; a document with such a player is *off-target*. A model that relies on the target and
another object equally is not off-target (the gap is not significant). Where the estimator gave
no standard errors (KernelSHAP at its minimum budget), the judgement is *unavailable*, never a
guess. Per run: the share of off-target documents among the judged ones, and what the relied-on
players have in common (category, coarse position in the image, size relative to the target).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from pixelshap_eval.leaderboard.scores import Evidence, TaskScores

Z = 1.96  # two-sided 95%: "significantly more value"
POSITION_GRID = 3  # coarse position: a 3x3 grid of the image
ROWS = ("top", "middle", "bottom")
COLS = ("left", "centre", "right")
SIZE_RATIO = 2.0  # larger / smaller than the target: area ratio beyond this factor
OFF_TARGET_RATE = "off_target_rate"  # the name `check` gates on


@dataclass(frozen=True)
class Judgement:
    """One document: "off_target", "on_target" or "unavailable" (with why), and the relied-on player."""

    status: str
    reason: str = ""
    relied_on: int | None = None  # player index of the most over-valued non-target player


@dataclass(frozen=True)
class ShortcutSummary:
    """One model on one task: how often it looked elsewhere, and where."""

    n_documents: int
    n_judged: int
    n_off_target: int
    n_unavailable: int
    unavailable_reasons: dict[str, int]
    categories: dict[str, int]  # relied-on player label -> documents
    positions: dict[str, int]  # "top left" ... -> documents
    sizes: dict[str, int]  # "smaller" / "similar" / "larger" than the target -> documents

    @property
    def off_target_rate(self) -> float | None:
        """Share of judged documents that are off-target; None when none could be judged."""
        return self.n_off_target / self.n_judged if self.n_judged else None

    def headline(self) -> str:
        """One sentence a user reads: how often, and what the relied-on players share."""
        if self.off_target_rate is None:
            reasons = "; ".join(self.unavailable_reasons) or "no document with a target"
            return f"off-target judgement unavailable ({reasons})"
        text = f"off-target on {self.n_off_target} of {self.n_judged} judged documents ({self.off_target_rate:.0%})"
        if self.n_off_target:
            text += f"; the relied-on players: {_top(self.categories)}, at {_top(self.positions)}, size relative to the target {_top(self.sizes)}"
        if self.n_unavailable:
            text += f"; {self.n_unavailable} not judged"
        return text

    def to_dict(self) -> dict:
        return {
            OFF_TARGET_RATE: self.off_target_rate,
            "n_documents": self.n_documents,
            "n_judged": self.n_judged,
            "n_off_target": self.n_off_target,
            "n_unavailable": self.n_unavailable,
            "unavailable_reasons": self.unavailable_reasons,
            "relied_on": {"categories": self.categories, "positions": self.positions, "sizes": self.sizes},
            "headline": self.headline(),
        }


def judge(evidence: Evidence) -> Judgement:
    """Whether a non-target player carries significantly more value than the target."""
    t = evidence.target_index
    if t is None or not 0 <= t < len(evidence.values):
        return Judgement("unavailable", "the target is not among the players")
    if any(se is None for se in evidence.std_errors):
        return Judgement("unavailable", "the estimator gave no standard errors")
    target_value, target_se = evidence.values[t], evidence.std_errors[t] or 0.0
    best, best_gap = None, 0.0
    for j, (value, se) in enumerate(zip(evidence.values, evidence.std_errors)):
        if j == t:
            continue
        gap = value - target_value
        noise = Z * math.hypot(se or 0.0, target_se)
        # exact estimates (no noise) still need a gap beyond float error to count
        if gap > max(noise, 1e-9 * max(1.0, abs(value), abs(target_value))) and gap > best_gap:
            best, best_gap = j, gap
    return Judgement("off_target", relied_on=best) if best is not None else Judgement("on_target")


def position(box: tuple[float, float, float, float], image_size: tuple[int, int]) -> str:
    """The coarse grid cell of the box centre, e.g. "top left"."""
    x, y, w, h = box
    width, height = image_size
    col = min(POSITION_GRID - 1, int(POSITION_GRID * (x + w / 2) / width))
    row = min(POSITION_GRID - 1, int(POSITION_GRID * (y + h / 2) / height))
    return f"{ROWS[row]} {COLS[col]}"


def relative_size(box: tuple[float, float, float, float], target_box: tuple[float, float, float, float]) -> str:
    area, target_area = box[2] * box[3], target_box[2] * target_box[3]
    if target_area <= 0 or area > SIZE_RATIO * target_area:
        return "larger"
    return "smaller" if area * SIZE_RATIO < target_area else "similar"


def summarise(scores: TaskScores) -> ShortcutSummary:
    """The shortcut report of one model on one task, from its per-document attributions."""
    return summarise_evidence(list(scores.evidence.values()))


def summarise_evidence(documents: list[Evidence]) -> ShortcutSummary:
    """The shortcut report of a list of document attributions."""
    categories: Counter[str] = Counter()
    positions: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    judged = off = 0
    for evidence in documents:
        verdict = judge(evidence)
        if verdict.status == "unavailable":
            reasons[verdict.reason] += 1
            continue
        judged += 1
        if verdict.relied_on is None:
            continue
        off += 1
        player = evidence.players[verdict.relied_on]
        categories[player.label] += 1
        positions[position(player.box, evidence.image_size) if evidence.image_size else "unknown position"] += 1
        sizes[relative_size(player.box, evidence.players[evidence.target_index].box)] += 1  # type: ignore[index]
    return ShortcutSummary(
        n_documents=len(documents),
        n_judged=judged,
        n_off_target=off,
        n_unavailable=sum(reasons.values()),
        unavailable_reasons=dict(reasons),
        categories=dict(categories.most_common()),
        positions=dict(positions.most_common()),
        sizes=dict(sizes.most_common()),
    )


def _top(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    name, count = next(iter(counts.items()))
    return f"{name} ({count / total:.0%})"
