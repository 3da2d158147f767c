"""Outputs of different runs never overwrite each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WRITE = """
import json, sys
import numpy as np
from PIL import Image
from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.lmms.records import write_heatmap
from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.shapley import get_estimator

shade = int(sys.argv[2])
regions = regions_from_boxes([(0, 0, 4, 4), (4, 0, 4, 4)], (8, 8))
players = DocPlayers(regions=regions, target_index=0, target_region=regions[0])
plan = get_estimator("exact").plan(2, None, 0)
values = np.array([float(mask[0]) * shade + float(mask[1]) for mask in plan.masks])
attribution = get_estimator("exact").solve(plan, values)
image = Image.new("RGB", (8, 8), (shade * 40, 0, 0))
print(json.dumps(write_heatmap(sys.argv[1], "pixelshap_coco", "q-1", image, players, attribution)))
"""


def test_two_runs_sharing_an_output_path_keep_their_own_heatmaps(tmp_path):
    paths = [json.loads(subprocess.run([sys.executable, "-c", WRITE, str(tmp_path), str(shade)], check=True, capture_output=True, text=True).stdout)
             for shade in (1, 3)]
    assert paths[0] != paths[1] and all(p.startswith("pixelshap_heatmaps/") and p.endswith("/pixelshap_coco/q-1.png") for p in paths)
    first, second = (Path(tmp_path, p).read_bytes() for p in paths)
    assert first != second  # both runs' overlays are there, each its own
