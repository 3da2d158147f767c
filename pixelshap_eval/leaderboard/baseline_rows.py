"""Reference rows from `pixelshap-eval baselines` of the built set a task ran on."""

from __future__ import annotations

from pathlib import Path

from pixelshap_eval.baselines import load_built_set, run_baselines
from pixelshap_eval.data.fingerprint import dataset_fingerprint
from pixelshap_eval.leaderboard.scores import TaskScores


def baseline_references(rows: list[TaskScores], specs: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """task -> baseline -> metric -> score, for each `DATASET=DIR` in `specs`. A set whose
    fingerprint differs from the runs' is refused: its baselines would describe other data."""
    from datasets import load_from_disk

    references: dict[str, dict[str, dict[str, float]]] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"--baselines {spec!r} is not DATASET=DIR (e.g. synth=pixelshap-data/synth)")
        tasks = [r for r in rows if r.settings.get("dataset") == name]
        if not tasks:
            raise ValueError(f"--baselines {spec}: no task of the inputs ran on the dataset {name!r}")
        fingerprint = dataset_fingerprint(load_from_disk(folder), Path(folder))
        for row in tasks:
            if row.dataset_fingerprint and row.dataset_fingerprint != fingerprint:
                raise ValueError(f"--baselines {spec}: {folder} is not the data {row.task} of {row.model} ran on "
                                 f"(fingerprint {fingerprint} vs {row.dataset_fingerprint})")
        report = run_baselines(load_built_set(Path(folder)))
        for row in tasks:
            references[row.task] = report.scores
    return references
