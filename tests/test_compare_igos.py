"""scripts/compare_igos.py's tables: built from hand-made lmms-eval result files laid out as
its runs write them (no model is run here), and its --igos-config parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_modules import load_script


@pytest.fixture(scope="module")
def compare():
    return load_script("compare_igos")


def _write_run(folder: Path, task: str, metrics: dict[str, float | tuple[float, float]], records: list[dict],
               per_document: list[dict] | None = None) -> None:
    """A results JSON and samples JSONL in lmms-eval's <output_path>/<model>/ layout
    (`per_document`: each sample row's own metric values)."""
    results: dict[str, float | str] = {"alias": task}
    for name, value in metrics.items():
        mean, stderr = value if isinstance(value, tuple) else (value, "N/A")
        results[f"{name},none"], results[f"{name}_stderr,none"] = mean, stderr
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "20261202_000000_results.json").write_text(json.dumps({"results": {task: results}}))
    own = per_document or [{} for _ in records]
    lines = [json.dumps({"doc_id": i, **m, "pixelshap": {"question_id": f"q{i}", **r}}) for i, (r, m) in enumerate(zip(records, own))]
    (folder / "model" / f"20261202_000000_samples_{task}.jsonl").write_text("\n".join(lines) + "\n")


def test_tables_put_each_methods_runs_side_by_side(compare, tmp_path):
    exact, _, igos_plus, igos_pp = compare.methods({})
    runs = tmp_path / "runs"
    counts = {"documents_scored": 4, "documents_skipped": 0, "documents_failed": 0}
    _write_run(runs / "synth" / "exact", "pixelshap_synth", {"recall_at_1": (1.0, 0.0), **counts}, [{"n_calls": 16, "ranking": [0]}] * 4)
    (runs / "synth" / "exact" / "timing.json").write_text(json.dumps({"seconds": 40.0}))
    _write_run(runs / "synth" / "igos+", "pixelshap_synth_igos",
               {"recall_at_1": (0.5, 0.25), "igos_deletion_auc": 0.2, "igos_insertion_auc": 0.7, **counts,
                "documents_scored": 3, "documents_skipped": 1},
               [{"n_calls": 209, "ranking": [1]}] * 2 + [{"n_calls": 211, "ranking": [0]}, {"skipped": "no token"}])
    (runs / "synth" / "igos+" / "timing.json").write_text(json.dumps({"seconds": 24.0}))
    (runs / "synth" / "igos+" / "pixelshap_config.yaml").write_text("pixelshap_synth_igos: {igos: {variant: igos+}}\n")
    curve = [{"deletion_auc": d, "insertion_auc": 1 - d} for d in (0.1, 0.2, 0.1, 0.1)]
    _write_run(runs / "curves" / "exact", "pixelshap_synth_faithfulness", {"deletion_auc": (0.125, 0.01), "insertion_auc": (0.875, 0.02)},
               [{"ranking": [0]}] * 4, curve)
    _write_run(runs / "curves" / "igos+", "pixelshap_synth_faithfulness", {"deletion_auc": (0.3, 0.05), "insertion_auc": (0.6, 0.04)},
               [{"ranking": [0]}] * 3, curve[:3])  # the skipped document has no ranking, so no curves
    _write_run(runs / "photos" / "igos++", "pixelshap_photos_igos", {"igos_deletion_auc": 0.1, "igos_insertion_auc": 0.8, **counts},
               [{"n_calls": 309}] * 4)  # no faithfulness follow-up, no timing: dashes
    text = compare.tables(tmp_path, (exact, igos_plus, igos_pp))
    synth, photos = text.split("### pixelshap_photos")
    lines = synth.strip().splitlines()
    assert lines[0] == "### pixelshap_synth" and "Recall@1" in lines[2] and "Recall@1" not in photos
    assert lines[4] == "| exact Shapley | 1.000 ± 0.000 | – | – | 0.125 ± 0.010 | 0.875 ± 0.020 | 4 / 4 | 16 | 10.0 |"
    assert lines[5] == "| iGOS+ | 0.500 ± 0.250 | 0.200 | 0.700 | 0.300 ± 0.050 | 0.600 ± 0.040 | 3 / 4 | 210 | 6.0 |"
    assert 'iGOS+: `{"pixelshap_synth_igos": {"igos": {"variant": "igos+"}}}`' in synth
    # iGOS+ skipped q3: exact Shapley's curves on the 3 documents both scored, side by side
    assert ("iGOS+'s curves are defined on 3 documents, exact Shapley's on 4; exact Shapley on the 3 both cover: "
            "deletion 0.133 / insertion 0.867.") in synth
    assert "| iGOS++ | 0.100 | 0.800 | – | – | 4 / 4 | 309 | – |" in photos and "exact" not in photos


def test_igos_config_is_merged_into_both_variants_and_checked(compare, tmp_path):
    assert compare.parse_igos_config("iterations=10, l3=1") == {"iterations": 10, "l3": 1}
    assert compare.parse_igos_config("{mask_size: 16}") == {"mask_size": 16}
    settings = tmp_path / "igos.yaml"
    settings.write_text("baseline: black\n")
    assert compare.parse_igos_config(str(settings)) == {"baseline": "black"}
    configs = [m.config("synth") for m in compare.methods({"iterations": 10})]
    assert configs[0] is None and configs[1] is None  # Shapley runs as shipped on synth
    assert configs[2] == {"pixelshap_synth_igos": {"igos": {"iterations": 10, "variant": "igos+"}}}
    assert configs[3] == {"pixelshap_synth_igos": {"igos": {"iterations": 10, "variant": "igos++"}}}
    assert compare.methods({})[1].config("photos") == {"pixelshap_photos": {"estimator": "kernel", "budget": "2n+2"}}
    with pytest.raises(ValueError, match="unknown iGOS settings"):
        compare.parse_igos_config("size=16")
    with pytest.raises(ValueError, match="no variant"):
        compare.parse_igos_config("variant=igos++")
