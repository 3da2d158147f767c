"""A leaderboard as markdown, CSV, JSON or one self-contained HTML page."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from pixelshap_eval.leaderboard.shortcuts import OFF_TARGET_RATE
from pixelshap_eval.leaderboard.table import Gap, Leaderboard, Section

FORMATS = ("markdown", "csv", "json", "html")


def _cell(aggregate) -> str:
    return f"{aggregate.mean:.3f} ± {aggregate.stderr:.3f}" if aggregate.stderr is not None else f"{aggregate.mean:.3f}"


def _gap_text(gap: Gap | None) -> str:
    if gap is None:
        return ""
    d = gap.difference
    mark = " (significant)" if gap.significant else " (not significant)"
    return f"{d.mean:+.3f} ± {d.stderr:.3f}, p={d.p_value:.4f}{mark}"


def _rate(row) -> str:
    rate = row.shortcuts.off_target_rate
    return "unavailable" if rate is None else f"{rate:.0%} of {row.shortcuts.n_judged}"


def _title(section: Section) -> str:
    arrow = "higher" if section.higher_is_better else "lower"
    mixed = " — separate section: not comparable with the other rows of this task" if section.mixed else ""
    return f"{section.task} (ranked by {section.rank_by}, {arrow} is better){mixed}"


def section_table(section: Section) -> tuple[list[str], list[list[str]]]:
    """Header and cells of one section: ranked rows, then reference rows."""
    header = ["rank", "model", "documents", *section.metrics, "off-target", f"{section.rank_by} vs next"]
    gaps = {gap.upper: gap for gap in section.gaps}
    cells = []
    for rank, row in enumerate(section.rows, 1):
        n = max((a.n for a in row.aggregates.values()), default=0)
        metrics = [_cell(row.aggregates[m]) if m in row.aggregates else "–" for m in section.metrics]
        cells.append([str(rank), row.label, str(n), *metrics, _rate(row), _gap_text(gaps.get(row.label))])
    for ref in section.references:
        metrics = [f"{ref.scores[m]:.3f}" if m in ref.scores else "–" for m in section.metrics]
        cells.append(["ref", ref.label, "", *metrics, "", ""])
    return header, cells


def to_markdown(board: Leaderboard) -> str:
    parts = []
    for section in board.sections:
        header, cells = section_table(section)
        lines = [f"## {_title(section)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        lines += [""] + [f"- {row.label}: {row.shortcuts.headline()}" for row in section.rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def to_dict(board: Leaderboard) -> dict[str, Any]:
    sections = []
    for s in board.sections:
        sections.append({
            "task": s.task,
            "rank_by": s.rank_by,
            "higher_is_better": s.higher_is_better,
            "mixed": s.mixed,
            "rows": [
                {
                    "rank": rank,
                    "model": row.label,
                    "model_name": row.scores.model,
                    "source": row.scores.source,
                    "settings": row.scores.settings,
                    "dataset_fingerprint": row.scores.dataset_fingerprint,
                    "versions": row.scores.versions,
                    "metrics": {m: {"mean": a.mean, "stderr": a.stderr, "n": a.n} for m, a in row.aggregates.items()},
                    "shortcuts": row.shortcuts.to_dict(),
                }
                for rank, row in enumerate(s.rows, 1)
            ],
            "neighbours": [
                {"upper": g.upper, "lower": g.lower, "difference": g.difference.mean, "stderr": g.difference.stderr,
                 "n": g.difference.n, "p_value": g.difference.p_value, "significant": g.significant}
                for g in s.gaps
            ],
            "references": [{"model": r.label, "metrics": r.scores} for r in s.references],
        })
    return {"sections": sections}


def to_json(board: Leaderboard) -> str:
    return json.dumps(to_dict(board), indent=2) + "\n"


def to_csv(board: Leaderboard) -> str:
    """One line per model (or reference) and task; `<metric>` and `<metric>_stderr` columns."""
    metrics = sorted({m for s in board.sections for m in s.metrics})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["task", "rank", "model", "documents", *[c for m in metrics for c in (m, f"{m}_stderr")], OFF_TARGET_RATE])
    for s in board.sections:
        for rank, row in enumerate(s.rows, 1):
            n = max((a.n for a in row.aggregates.values()), default=0)
            values = []
            for m in metrics:
                a = row.aggregates.get(m)
                values += [a.mean if a else "", a.stderr if a and a.stderr is not None else ""]
            rate = row.shortcuts.off_target_rate
            writer.writerow([s.task, rank, row.label, n, *values, "" if rate is None else rate])
        for ref in s.references:
            writer.writerow([s.task, "ref", ref.label, "", *[c for m in metrics for c in (ref.scores.get(m, ""), "")], ""])
    return out.getvalue()


STYLE = """body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1300px;padding:0 1rem;color:#1d2430}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #d7dbe2;padding:.3rem .6rem;text-align:right}
td:nth-child(2),th:nth-child(2){text-align:left}thead th{background:#f3f5f8}tr.ref td{color:#6b7585;font-style:italic}
.note{color:#4a5565;font-size:.9rem}"""


def to_html(board: Leaderboard, title: str = "pixelshap_eval leaderboard") -> str:
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>',
             f"<h1>{html.escape(title)}</h1>"]
    for section in board.sections:
        header, cells = section_table(section)
        parts.append(f"<h2>{html.escape(_title(section))}</h2><table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row in cells:
            css = ' class="ref"' if row[0] == "ref" else ""
            parts.append(f"<tr{css}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table><ul class=\"note\">" + "".join(f"<li>{html.escape(r.label)}: {html.escape(r.shortcuts.headline())}</li>" for r in section.rows) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render(board: Leaderboard, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown leaderboard format {fmt!r}; choose from {list(FORMATS)}")
    return {"markdown": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}[fmt](board)
