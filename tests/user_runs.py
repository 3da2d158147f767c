"""Session fixtures for the leaderboard, check and shortcut tests: the demo's two runs (toy
model and its re-initialised copy) at a reduced size, and a shortcut run, each made once."""

from __future__ import annotations

import shutil

import pytest
from datasets import Dataset, DatasetDict
from lmms_runs import LmmsRun, run_lmms

from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet
from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES
from pixelshap_eval.data.synth import CELL, generate_scenes, scene_row
from pixelshap_eval.demo import DemoResult, DemoSettings, run_demo

SHORTCUT_CELL = (0, 0)  # the fixed region the shortcut model reads: the top-left grid cell
SHORTCUT_SCENES = 6


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory) -> DemoResult:
    return run_demo(DemoSettings(out=tmp_path_factory.mktemp("user-demo"), scenes_per_type=3, photos=("chelsea",)))


def shortcut_set(n: int) -> BuiltSet:
    """Synthetic scenes in which a non-target object sits in the top-left cell."""
    rows = []
    for scene in generate_scenes(20 * n, seed=3, question_types=("color_of_odd",)):
        if any(obj.cell == SHORTCUT_CELL for i, obj in enumerate(scene.objects) if i != scene.target_index):
            rows.append(scene_row(scene, f"shortcut-{len(rows):03d}", len(rows)))
        if len(rows) == n:
            break
    dataset = DatasetDict({EVALUATION_SPLIT: Dataset.from_list(rows, features=OBJECT_IMPORTANCE_FEATURES)})
    return BuiltSet(name="synth", dataset=dataset, card="# shortcut scenes (tests)\n", stats={"rows": len(rows)})


@pytest.fixture(scope="session")
def shortcut_run(tmp_path_factory) -> LmmsRun:
    """The fixed-region model on scenes whose top-left object is never the target, run with the
    `lmms_eval` command (the spelling the design's users type)."""
    root = tmp_path_factory.mktemp("shortcut")
    shortcut_set(SHORTCUT_SCENES).save(root / "data" / "synth")
    command = shutil.which("lmms_eval")
    assert command, "the lmms_eval command is not installed (pyproject [project.scripts])"
    args = ["--model", "pixelshap_fixed_region", "--model_args", f"x0=0,y0=0,x1={CELL},y1={CELL},model_name=fixed-top-left", "--tasks", "pixelshap_synth"]
    env = {"PIXELSHAP_DATA_DIR": str(root / "data"), "PIXELSHAP_CONFIG": "heatmaps=false"}
    return run_lmms(args, root / "run", env, command=[command], cwd=root)
