"""What one document leaves behind besides its metrics: the sample-log record of its
attribution (keys are stable: the report and the faithfulness task read them) and its heatmap."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.lmms.scoring import tied_scores
from pixelshap_eval.metrics import ranking
from pixelshap_eval.report.heatmap import save_overlay
from pixelshap_eval.shapley import Attribution

HEATMAP_FOLDER = "pixelshap_heatmaps"
# one folder per run (process) under HEATMAP_FOLDER, so runs sharing an --output_path never
# overwrite each other's heatmaps; each sample record keeps the path of its own
RUN_FOLDER = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def attribution_record(players: DocPlayers, attribution: Attribution, values: np.ndarray, value_function: str) -> dict[str, Any]:
    """The samples-JSONL fields of one solved attribution (`values` holds the per-player
    scores, a name kept for the released sample format; `coalition_values` the v(S) rows)."""
    target = players.target_region
    return {
        "players": [{"label": r.label, "box": list(r.box), "id": r.id} for r in players.regions],
        "values": attribution.scores.tolist(),
        "std_errors": finite_or_null(attribution.std_errors),
        "ranking": ranking(tied_scores(attribution)).tolist(),
        "target_index": players.target_index,
        "target_label": target.label if target is not None else None,
        "target_box": list(target.box) if target is not None else None,
        "value_full": attribution.value_full,
        "value_empty": attribution.value_empty,
        "coalition_values": np.asarray(values, dtype=float).tolist(),
        "n_players": len(players.regions),
        "image_size": [int(players.regions[0].mask.shape[1]), int(players.regions[0].mask.shape[0])] if players.regions else None,
        "n_calls": attribution.n_calls,
        "estimator": attribution.estimator,
        "value_function": value_function,
        **{name: (value if math.isfinite(value) else None) for name, value in attribution.diagnostics.items()},
    }


def finite_or_null(array: np.ndarray) -> list[float | None]:
    """The numbers of `array`, with None (JSON null) where one is not finite: an estimator
    without a standard error at its budget gives nan, and NaN is not valid strict JSON."""
    return [float(x) if math.isfinite(x) else None for x in np.asarray(array, dtype=float).tolist()]


def write_heatmap(output_path: str | Path, task_name: str, key: str, image: Image.Image, players: DocPlayers, attribution: Attribution) -> str:
    """Save the overlay of one attribution under the run's output folder; returns its path
    relative to that folder (the sample record keeps it)."""
    root = Path(output_path)
    root = root.parent if root.suffix == ".json" else root
    relative = Path(HEATMAP_FOLDER) / RUN_FOLDER / task_name / f"{_slug(key)}.png"
    target_box = players.target_region.box if players.target_region is not None else None
    save_overlay(root / relative, image, attribution.scores, players.regions, target_box=target_box)
    return str(relative)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120]
