"""The report's shortcut section: per task and run, how often the model relied on a player other
than the target, and what those players share (see pixelshap_eval.leaderboard.shortcuts)."""

from __future__ import annotations

import html

from pixelshap_eval.leaderboard.scores import Evidence
from pixelshap_eval.leaderboard.shortcuts import summarise_evidence
from pixelshap_eval.report.runs import RunOutput

EXPLANATION = (
    "A document is off-target when a non-target player carries significantly more value than the target "
    "(gap beyond 1.96 combined standard errors). Relying on the target and another object equally is not "
    "off-target; without standard errors (KernelSHAP at its minimum budget) the judgement is unavailable."
)


def shortcut_section(runs: list[RunOutput], tasks: list[str]) -> str:
    """An HTML table: one row per task, one column per run, the shortcut headline in each cell."""
    header = "".join(f"<th>{html.escape(run.label)}</th>" for run in runs)
    rows = []
    for task in tasks:
        cells = []
        for run in runs:
            documents = [Evidence.from_dict(row["pixelshap"]) for row in run.samples.get(task, []) if "values" in row.get("pixelshap", {})]
            cells.append(html.escape(summarise_evidence(documents).headline()) if documents else "–")
        rows.append(f"<tr><td>{html.escape(task)}</td>" + "".join(f'<td style="text-align:left">{c}</td>' for c in cells) + "</tr>")
    return (f'<p class="legend">{EXPLANATION}</p><table><thead><tr><th>task</th>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
