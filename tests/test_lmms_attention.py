"""The attention-map set is read by a task: `pixelshap_attention` through the real lmms-eval
command, a coarser grid than the maps' scored against their pooled mass."""

from __future__ import annotations

import numpy as np
import pytest
from lmms_runs import run_lmms
from test_data_attention import small_set  # noqa: F401  (the fixture: three rows with hand-made maps)

from pixelshap_eval.data.attention import build_attention_set

pytestmark = pytest.mark.e2e

PATCH_METRICS = ("hit_at_3", "precision_at_3", "ndcg_at_3")


def test_attention_task_scores_plausibility_against_the_maps(small_set, tmp_path, tiny_model_dirs):  # noqa: F811
    data = tmp_path / "data"
    build_attention_set(small_set, source="hand-made maps").save(data / "attention")
    model = tiny_model_dirs("llava")
    env = {
        "PIXELSHAP_DATA_DIR": str(data),
        # a 4 x 4 grid keeps the run short; the metrics put it on the maps' 12 x 12 frame
        "PIXELSHAP_CONFIG": "pixelshap_attention.grid_rows=4,pixelshap_attention.grid_cols=4",
    }
    args = [
        "--model", "pixelshap_hf", "--model_args", f"pretrained={model},device=cpu,dtype=float32",
        "--batch_size", "16", "--tasks", "pixelshap_attention", "--limit", "2", "--gen_kwargs", "max_new_tokens=4",
    ]
    run = run_lmms(args, tmp_path / "run", env)
    records = run.records("pixelshap_attention")
    assert [r["question_id"] for r in records] == ["q-coco", "manifest-2"]
    scored = [r for r in records if "values" in r]
    assert scored, records
    for record in scored:
        assert record["n_players"] == 16 and len(record["values"]) == 16
        assert record["human_patches"] in ([79, 67, 78], [1, 2, 3])
    results = run.results["results"]["pixelshap_attention"]
    assert not any(f"{name},none" in results for name in PATCH_METRICS)  # the map's top cells are on its 12 x 12 grid
    for name in ("map_spearman", "map_auc", "similarity_drop"):
        assert np.isfinite(run.metric("pixelshap_attention", name)), name
    assert -1.0 <= run.metric("pixelshap_attention", "map_spearman") <= 1.0
    assert 0.0 <= run.metric("pixelshap_attention", "map_auc") <= 1.0
