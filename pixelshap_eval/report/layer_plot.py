"""The report's metric-against-layer plots: one inline SVG per task and per-layer metric
(`<metric>_layer_<NN>`, written by the layer-wise tasks), one line per run with standard-error
bars, so the report stays one self-contained file."""

from __future__ import annotations

import html
import math
from collections import defaultdict

from pixelshap_eval.metrics import higher_is_better, layer_metric_name, split_layer_metric
from pixelshap_eval.report.runs import Metric, RunOutput

WIDTH, HEIGHT = 460, 250
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 14, 38
INSET = 14  # the first and last layer's points stay clear of the axes
COLOURS = ("#b2182b", "#2166ac", "#1b7837", "#762a83", "#e08214", "#4d4d4d")


def layer_series(runs: list[RunOutput], task: str) -> dict[str, list[dict[int, Metric]]]:
    """metric -> for each run, layer -> that layer's aggregated value (empty where a run has none)."""
    series: dict[str, list[dict[int, Metric]]] = defaultdict(lambda: [{} for _ in runs])
    for index, run in enumerate(runs):
        for name, metric in run.metrics.get(task, {}).items():
            split = split_layer_metric(name)
            if split is not None:
                series[split[0]][index][split[1]] = metric
    return dict(series)


def first_best_layer(points: dict[int, Metric], higher: bool = True) -> int | None:
    """The first layer at which the metric reaches its best value over the layers (for
    Recall@1: where the target first becomes the top player as often as it ever does)."""
    finite = {layer: m.value for layer, m in points.items() if math.isfinite(m.value)}
    if not finite:
        return None
    best = max(finite.values()) if higher else min(finite.values())
    return min(layer for layer, value in finite.items() if value == best)


def layer_section(runs: list[RunOutput], tasks: list[str]) -> str:
    """The "Metrics by layer" section of the report; empty when no run has per-layer metrics."""
    figures = [
        _plot(runs, task, metric, by_run)
        for task in tasks
        for metric, by_run in sorted(layer_series(runs, task).items())
    ]
    if not figures:
        return ""
    return "<h2>Metrics by layer</h2>\n" + "\n".join(figures)


def _plot(runs: list[RunOutput], task: str, metric: str, by_run: list[dict[int, Metric]]) -> str:
    layers = sorted({layer for points in by_run for layer in points})
    values = [m.value + sign * (m.stderr or 0.0) for points in by_run for m in points.values() for sign in (-1, 1) if math.isfinite(m.value)]
    low, high = (0.0, 1.0) if values and min(values) >= -0.05 and max(values) <= 1.05 else (min(values, default=0.0), max(values, default=1.0))
    high = high if high > low else low + 1.0
    first, last = layers[0], layers[-1]

    def x(layer: float) -> float:
        return LEFT + INSET + (WIDTH - LEFT - RIGHT - 2 * INSET) * (0.5 if last == first else (layer - first) / (last - first))

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (min(max(value, low), high) - low) / (high - low))

    parts = [f'<line x1="{LEFT}" y1="{y(low):.1f}" x2="{WIDTH - RIGHT}" y2="{y(low):.1f}" stroke="#8a93a3"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y(low):.1f}" stroke="#8a93a3"/>']
    for tick in (low, (low + high) / 2, high):
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.2f}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y(tick):.1f}" x2="{WIDTH - RIGHT}" y2="{y(tick):.1f}" stroke="#e4e7ec"/>')
    step = max(1, math.ceil(len(layers) / 12))
    for layer in layers[::step]:
        parts.append(f'<text x="{x(layer):.1f}" y="{HEIGHT - BOTTOM + 15}" text-anchor="middle" font-size="11">{layer}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12">decoder layer</text>')
    legend = []
    for index, (run, points) in enumerate(zip(runs, by_run)):
        if not points:
            continue
        colour = COLOURS[index % len(COLOURS)]
        ordered = [(layer, points[layer]) for layer in sorted(points)]
        path = " ".join(f"{x(layer):.1f},{y(m.value):.1f}" for layer, m in ordered)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for layer, m in ordered:
            if m.stderr and math.isfinite(m.stderr):
                parts.append(f'<line x1="{x(layer):.1f}" y1="{y(m.value - m.stderr):.1f}" x2="{x(layer):.1f}" y2="{y(m.value + m.stderr):.1f}" stroke="{colour}"/>')
            parts.append(f'<circle cx="{x(layer):.1f}" cy="{y(m.value):.1f}" r="3" fill="{colour}"><title>{html.escape(run.label)}, layer {layer}: {m.value:.3f}</title></circle>')
        higher = run.higher_is_better.get(task, {}).get(layer_metric_name(metric, ordered[0][0]), higher_is_better(metric))
        best = first_best_layer(points, higher is not False)
        reached = "" if best is None else f" (best {points[best].value:.3f} from layer {best})"
        legend.append(f'<span class="swatch" style="background:{colour}"></span>{html.escape(run.label)}{reached}')
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(metric)} by layer">{"".join(parts)}</svg>'
    caption = f"<b>{html.escape(task)}</b>: {html.escape(metric)} by decoder layer (± standard error). {' '.join(legend)}"
    return f'<figure class="layers">{svg}<figcaption>{caption}</figcaption></figure>'
