"""Reading what an lmms-eval run of pixelshap tasks wrote under its --output_path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pixelshap_eval.run_files import choose_results, stamp_of


@dataclass(frozen=True)
class Metric:
    """One aggregated metric: its mean over documents and lmms-eval's standard error."""

    value: float
    stderr: float | None


@dataclass(frozen=True)
class RunOutput:
    """One lmms-eval run: metrics and sample rows per task, and where its files are."""

    label: str
    root: Path  # the --output_path of the run
    metrics: dict[str, dict[str, Metric]]  # task -> metric name -> Metric
    samples: dict[str, list[dict]]  # task -> sample rows (each with a "pixelshap" record)
    higher_is_better: dict[str, dict[str, bool]]  # task -> metric name -> direction
    model: str

    def heatmap_path(self, record: dict) -> Path | None:
        relative = record.get("heatmap")
        return self.root / relative if relative else None


def load_run(root: str | Path, label: str) -> RunOutput:
    """A results JSON and its samples: `root` names the file, or a run folder (an lmms-eval
    --output_path) whose newest results file is used (see `run_files`)."""
    latest = choose_results(root)
    root = Path(root) if Path(root).is_dir() else latest.parent.parent
    stamp = stamp_of(latest)
    data = json.loads(latest.read_text())
    metrics: dict[str, dict[str, Metric]] = {}
    for task, values in data.get("results", {}).items():
        table = {}
        for key, value in values.items():
            name, _, _filter = key.partition(",")
            if not _filter or name.endswith(("_stderr", "_stderr_clt", "_stderr_clustered")) or not isinstance(value, (int, float)):
                continue
            stderr = values.get(f"{name}_stderr,{_filter}")
            table[name] = Metric(float(value), float(stderr) if isinstance(stderr, (int, float)) else None)
        metrics[task] = table
    samples = {}
    for path in latest.parent.glob(f"{stamp}_samples_*.jsonl"):
        task = path.stem.split("_samples_", 1)[1]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    model = str(data.get("config", {}).get("model_args") or data.get("model_name") or latest.parent.name)
    directions = {task: {k: bool(v) for k, v in table.items()} for task, table in data.get("higher_is_better", {}).items()}
    return RunOutput(label=label, root=root, metrics=metrics, samples=samples, higher_is_better=directions, model=model)
