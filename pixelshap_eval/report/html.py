"""A self-contained HTML report of one or more runs, side by side.

Everything (styles, images as base64 PNG) is inside the one file, so it opens offline and can be
mailed or attached to a model card. It shows the metrics with their standard errors, then per
task a few documents: the image with its target box, the question, and for each run the answer
and the attribution overlay (iGOS runs: beside it the raw coarse mask, for iGOS++ also its
deletion and insertion masks, `igos_masks`). Runs of layer-wise tasks also get a plot of each
per-layer metric against the layer (`layer_plot`).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw

from pixelshap_eval.images import to_rgb
from pixelshap_eval.report.heatmap import TARGET_COLOUR
from pixelshap_eval.report.igos_masks import MaskPicture, igos_mask_pictures
from pixelshap_eval.report.layer_plot import layer_section
from pixelshap_eval.report.runs import Metric, RunOutput
from pixelshap_eval.report.shortcuts import shortcut_section

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #1d2430; background: #fff; padding: 0 1rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 2px solid #e4e7ec; }
.lead { color: #4a5565; max-width: 60rem; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .95rem; }
th, td { border: 1px solid #d7dbe2; padding: .35rem .7rem; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { background: #f3f5f8; } .se { color: #6b7585; font-size: .85em; }
.sample { display: flex; gap: 1rem; align-items: flex-start; border: 1px solid #e4e7ec; border-radius: 8px;
          padding: .8rem; margin: .8rem 0; flex-wrap: wrap; }
.sample figure { margin: 0; width: 240px; } .sample img { width: 240px; image-rendering: pixelated; border-radius: 4px; }
figcaption { font-size: .85rem; color: #364152; margin-top: .3rem; line-height: 1.35; }
.meta { width: 210px; } .question { font-weight: 600; } .legend { font-size: .85rem; color: #4a5565; }
.layers { margin: .6rem 0; } .layers svg { background: #fbfcfd; border: 1px solid #e4e7ec; border-radius: 6px; }
.swatch { display: inline-block; width: .9em; height: .9em; vertical-align: middle; margin: 0 .2em; border-radius: 2px; }
"""


def render_report(
    runs: list[RunOutput],
    out: str | Path,
    title: str = "pixelshap_eval report",
    lead: str = "",
    originals: Mapping[str, Image.Image] | None = None,
    samples_per_task: int = 6,
) -> Path:
    """Write the report of `runs` (compared side by side) to `out`; returns its path.
    `originals` maps question ids to the unmasked images shown beside the overlays."""
    if not runs:
        raise ValueError("render_report needs at least one run")
    originals = originals or {}
    tasks = sorted({task for run in runs for task in run.metrics} | {task for run in runs for task in run.samples})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="lead">{lead}</p>' if lead else "",
        _legend(),
        "<h2>Metrics</h2>",
        _metrics_table(runs, tasks),
        layer_section(runs, tasks),
        "<h2>Shortcuts</h2>",
        shortcut_section(runs, tasks),
    ]
    for task in tasks:
        parts.append(f"<h2>{html.escape(task)}</h2>")
        parts.extend(_samples(runs, task, originals, samples_per_task))
    parts.append("</body></html>")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
    return path


def _legend() -> str:
    return (
        '<p class="legend">Overlays: <span class="swatch" style="background:#b2182b"></span>the region supports the '
        'answer, <span class="swatch" style="background:#2166ac"></span>it works against it (colour scaled per image); '
        f'<span class="swatch" style="background:rgb{TARGET_COLOUR}"></span>green box: the target object; dashed '
        "yellow box: the top-ranked player.</p>"
    )


def _metrics_table(runs: list[RunOutput], tasks: list[str]) -> str:
    header = "".join(f"<th>{html.escape(run.label)}</th>" for run in runs)
    rows = []
    for task in tasks:
        names = sorted({name for run in runs for name in run.metrics.get(task, {})})
        for name in names:
            direction = next((run.higher_is_better.get(task, {}).get(name) for run in runs if name in run.higher_is_better.get(task, {})), None)
            arrow = "" if direction is None else " ↑" if direction else " ↓"
            cells = "".join(f"<td>{_format(run.metrics.get(task, {}).get(name))}</td>" for run in runs)
            rows.append(f"<tr><td>{html.escape(task)}</td><td>{html.escape(name)}{arrow}</td>{cells}</tr>")
    body = "\n".join(rows) or '<tr><td colspan="99">no metrics</td></tr>'
    return f"<table><thead><tr><th>task</th><th>metric</th>{header}</tr></thead><tbody>{body}</tbody></table>"


def _format(metric: Metric | None) -> str:
    if metric is None:
        return "–"
    stderr = f' <span class="se">± {metric.stderr:.3f}</span>' if metric.stderr is not None and math.isfinite(metric.stderr) else ""
    return f"{metric.value:.3f}{stderr}"


def _samples(runs: list[RunOutput], task: str, originals: Mapping[str, Image.Image], limit: int) -> list[str]:
    # only the runs that logged this task (an iGOS run and a Shapley run have different tasks)
    runs = [run for run in runs if run.samples.get(task)]
    records = [{row["pixelshap"]["question_id"]: row["pixelshap"] for row in run.samples[task]} for run in runs]
    keys = [key for key in records[0] if all(key in r for r in records)][:limit] if records else []
    cards = []
    for key in keys:
        first = records[0][key]
        figures = []
        original = originals.get(key)
        if original is not None:
            caption = f"target: {html.escape(first.get('target_label') or 'none')}"
            figures.append(_figure(_with_box(original, first.get("target_box")), caption))
        for run, record in zip(runs, (r[key] for r in records)):
            figures.append(_figure(_heatmap(run, record), _caption(run, record)))
            figures.extend(_figure(p.image, _mask_caption(run, p)) for p in igos_mask_pictures(record))
        cards.append(
            f'<div class="sample"><div class="meta"><p class="question">{html.escape(str(first.get("question") or ""))}</p>'
            f'<p class="legend">{html.escape(key)}</p></div>{"".join(figures)}</div>'
        )
    return cards or ["<p>No sample rows were logged for this task (run lmms-eval with --log_samples).</p>"]


def _caption(run: RunOutput, record: dict) -> str:
    lines = [f"<b>{html.escape(run.label)}</b>", f"answer: “{html.escape(str(record.get('full_answer', '')))}”"]
    if "skipped" in record:
        lines.append(html.escape(record["skipped"]))
    elif record.get("values") and max(record["values"]) == min(record["values"]):
        lines.append(f"all values equal ({record['values'][0]:.3f}): no player ranked first")
        lines.append(f"{record.get('n_calls')} model calls, {html.escape(str(record.get('estimator')))}")
    elif record.get("ranking"):
        top = record["ranking"][0]
        label = record["players"][top]["label"] if record.get("players") else str(top)
        errors = record.get("std_errors") or []
        error = errors[top] if top < len(errors) else None
        finite = isinstance(error, (int, float)) and math.isfinite(error)
        spread = f" ± {error:.3f}" if finite else ""
        lines.append(f"top: {html.escape(label)} ({record['values'][top]:.3f}{spread})")
        if not finite:
            lines.append("no standard error at this budget")
        lines.append(f"{record.get('n_calls')} model calls, {html.escape(str(record.get('estimator')))}")
    return "<br>".join(lines)


def _mask_caption(run: RunOutput, picture: MaskPicture) -> str:
    rows, cols = picture.mask_size
    return (
        f"<b>{html.escape(run.label)}</b><br>iGOS {html.escape(picture.name)}, {rows}×{cols} cells<br>"
        "black: deleted (salient), white: kept"
    )


def _heatmap(run: RunOutput, record: dict) -> Image.Image | None:
    path = run.heatmap_path(record)
    if path is None or not path.is_file():
        return None
    with Image.open(path) as image:
        return to_rgb(image)


def _with_box(image: Image.Image, box) -> Image.Image:
    drawn = to_rgb(image)
    if box and box[2] > 0 and box[3] > 0:
        drawn = drawn.copy()
        x, y, w, h = box
        ImageDraw.Draw(drawn).rectangle([x, y, x + w - 1, y + h - 1], outline=TARGET_COLOUR, width=max(1, round(max(drawn.size) / 160)))
    return drawn


def _figure(image: Image.Image | None, caption: str) -> str:
    if image is None:
        return f"<figure><figcaption>{caption}<br>(no overlay)</figcaption></figure>"
    if max(image.size) > 480:
        image = image.copy()
        image.thumbnail((480, 480))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<figure><img alt="" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'
