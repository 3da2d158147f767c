"""When two rows may be ranked against each other: same task settings, same dataset (content
fingerprint), compatible package versions. Anything else would rank the settings, not the models."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from pixelshap_eval.leaderboard.scores import TaskScores

OUTPUT_ONLY_SETTINGS = ("heatmaps",)  # settings that change what is written, not the scores


class IncomparableError(ValueError):
    """Rows that may not be ranked together; the message names every difference."""


def _release(text: str) -> tuple[int, ...] | str:
    """major.minor of a version (compatible releases share it); the text when it is no version."""
    try:
        return Version(text).release[:2]
    except InvalidVersion:
        return text


def differences(a: TaskScores, b: TaskScores) -> list[str]:
    """What keeps `a` and `b` from being ranked together (empty: comparable)."""
    found = []
    if a.task != b.task:
        found.append(f"task {a.task} vs {b.task}")
    for key in sorted(set(a.settings) | set(b.settings)):
        if key not in OUTPUT_ONLY_SETTINGS and a.settings.get(key) != b.settings.get(key):
            found.append(f"setting {key}: {a.settings.get(key)!r} vs {b.settings.get(key)!r}")
    if a.dataset_fingerprint != b.dataset_fingerprint:
        found.append(f"dataset fingerprint: {a.dataset_fingerprint} vs {b.dataset_fingerprint}")
    for package in sorted(set(a.versions) | set(b.versions)):
        va, vb = a.versions.get(package, "unknown"), b.versions.get(package, "unknown")
        if _release(va) != _release(vb):
            found.append(f"{package} version {va} vs {vb} (major.minor must agree)")
    return found


def comparable_groups(rows: list[TaskScores]) -> list[list[TaskScores]]:
    """`rows` split into groups whose members are all comparable with the group's first row."""
    groups: list[list[TaskScores]] = []
    for row in rows:
        for group in groups:
            if not differences(group[0], row):
                group.append(row)
                break
        else:
            groups.append([row])
    return groups


def describe_mismatch(groups: list[list[TaskScores]]) -> str:
    """One message naming how each later group differs from the first (for IncomparableError)."""
    first = groups[0][0]
    lines = [f"{first.task}: these rows are not comparable and would not be ranked together:"]
    for group in groups[1:]:
        row = group[0]
        lines.append(f"  {row.model} ({row.source}) vs {first.model} ({first.source}): " + "; ".join(differences(first, row)))
    lines.append("Re-run them with the same settings, dataset and versions, or pass --allow-mixed to show them in separate sections.")
    return "\n".join(lines)
