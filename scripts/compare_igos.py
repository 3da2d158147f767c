"""iGOS+/iGOS++ beside exact Shapley and KernelSHAP, on the same footing, through lmms-eval.

With the toy model (or `--model-dir`; `--reinitialised` for a re-initialised copy) it builds
the synthetic scenes (`--scenes`, spread evenly over the model's question types) and the
package photos, runs every method through the real `lmms-eval` command (`pixelshap_hf`,
float32, one thread):

    exact Shapley   pixelshap_synth / pixelshap_photos
    KernelSHAP      pixelshap_synth_kernel / pixelshap_photos with estimator kernel, budget 2n+2
    iGOS+, iGOS++   pixelshap_synth_igos / pixelshap_photos_igos (variant via PIXELSHAP_CONFIG)

then scores every run's rankings with the project's own deletion/insertion curves (the
follow-up tasks pixelshap_synth_faithfulness / pixelshap_photos_faithfulness: the task's
players, masking and answer-similarity value) and prints one markdown table per dataset.
Seconds per image are each attribution run's wall clock (lmms-eval start-up and model load
included) over its documents.

    OMP_NUM_THREADS=1 python scripts/compare_igos.py --out runs/compare_igos
    python scripts/compare_igos.py --out runs/compare_igos --methods igos+,igos++ --igos-config "iterations=10,l3=1"
    python scripts/compare_igos.py --out runs/compare_igos --table-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pixelshap_eval.data.photos import PHOTOS, build_photos_set
from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.demo import reinitialised_copy
from pixelshap_eval.igos import IgosConfig
from pixelshap_eval.lmms.config import parse_settings
from pixelshap_eval.report.runs import Metric, RunOutput, load_run
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

MARKER = ".compare_igos"
TIMING = "timing.json"
DATASETS = ("synth", "photos")
FAITHFULNESS = {"synth": "pixelshap_synth_faithfulness", "photos": "pixelshap_photos_faithfulness"}
MISSING = "–"


@dataclass(frozen=True)
class Method:
    """One attribution method: its table label, and per dataset the task and its settings."""

    key: str
    label: str
    tasks: dict[str, str]
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # dataset -> pixelshap settings of the task

    def config(self, dataset: str) -> dict[str, Any] | None:
        """The PIXELSHAP_CONFIG mapping of this method's run on `dataset` (None: as shipped)."""
        settings = self.settings.get(dataset)
        return {self.tasks[dataset]: settings} if settings else None


def methods(igos_settings: dict[str, Any]) -> tuple[Method, ...]:
    """The compared methods; `igos_settings` are merged into both iGOS variants' settings."""
    kernel = {"estimator": "kernel", "budget": "2n+2"}
    igos_tasks = {"synth": "pixelshap_synth_igos", "photos": "pixelshap_photos_igos"}
    return (
        Method("exact", "exact Shapley", {"synth": "pixelshap_synth", "photos": "pixelshap_photos"}),
        Method("kernel", "KernelSHAP, 2n+2 calls", {"synth": "pixelshap_synth_kernel", "photos": "pixelshap_photos"}, {"photos": kernel}),
        *(
            Method(variant, label, igos_tasks, {d: {"igos": {**igos_settings, "variant": variant}} for d in DATASETS})
            for variant, label in (("igos+", "iGOS+"), ("igos++", "iGOS++"))
        ),
    )


def parse_igos_config(text: str | None) -> dict[str, Any]:
    """`--igos-config`: a YAML file, a YAML mapping (`{iterations: 10}`) or inline `key=value`
    pairs separated by commas; checked against `IgosConfig` (the variant is each row's own)."""
    if not text:
        return {}
    raw = yaml.safe_load(text) if text.lstrip().startswith("{") else parse_settings(text, "--igos-config")
    if not isinstance(raw, dict):
        raise ValueError(f"--igos-config must be a mapping of iGOS settings, got {raw!r}")
    if "variant" in raw:
        raise ValueError("--igos-config sets no variant: both iGOS+ and iGOS++ are run (choose with --methods)")
    IgosConfig.from_mapping(raw)  # unknown names and bad values stop here, before any run
    return {str(k): v for k, v in raw.items()}


# ----------------------------------------------------------------------------- running


def attribution_dir(out: Path, dataset: str, method: Method) -> Path:
    return out / "runs" / dataset / method.key


def curves_dir(out: Path, method: Method) -> Path:
    return out / "runs" / "curves" / method.key


def run_lmms_eval(model_dir: Path, tasks: list[str], output: Path, data: Path, config: dict[str, Any] | None, batch_size: int) -> float:
    """One `lmms-eval` run into a fresh `output`; returns its wall-clock seconds."""
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    env = {**os.environ, "PIXELSHAP_DATA_DIR": str(data), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("PIXELSHAP_CONFIG", None)
    if config:
        settings = output / "pixelshap_config.yaml"
        settings.write_text(yaml.safe_dump(config))
        env["PIXELSHAP_CONFIG"] = str(settings)
    command = [
        sys.executable, "-m", "lmms_eval", "--model", "pixelshap_hf", "--model_args", f"pretrained={model_dir},dtype=float32",
        "--batch_size", str(batch_size), "--tasks", ",".join(tasks), "--output_path", str(output), "--log_samples",
        "--verbosity", "WARNING",
    ]
    print(f"[compare_igos] {' '.join(tasks)} -> {output}", file=sys.stderr, flush=True)
    log = output / "lmms_eval.log"
    start = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=output)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not list(output.glob("*/*_results.json")):
        tail = log.read_text()[-4000:]
        raise RuntimeError(f"lmms-eval (exit {done.returncode}) wrote no results under {output}; the end of {log}:\n{tail}")
    return seconds


def samples_file(run_dir: Path, task: str) -> Path | None:
    found = sorted(run_dir.glob(f"*/*_samples_{task}.jsonl"))
    return found[-1] if found else None


def has_rankings(path: Path | None) -> bool:
    if path is None:
        return False
    return any("ranking" in json.loads(line)["pixelshap"] for line in path.read_text().splitlines() if line.strip())


def run_all(out: Path, model_dir: Path, chosen: tuple[Method, ...], batch_size: int) -> None:
    """Every chosen method's attribution run per dataset, then its faithfulness follow-ups."""
    data = out / "data"
    for method in chosen:
        rankings = {}
        for dataset in DATASETS:
            folder = attribution_dir(out, dataset, method)
            seconds = run_lmms_eval(model_dir, [method.tasks[dataset]], folder, data, method.config(dataset), batch_size)
            (folder / TIMING).write_text(json.dumps({"seconds": seconds}))
            path = samples_file(folder, method.tasks[dataset])
            if has_rankings(path):
                rankings[FAITHFULNESS[dataset]] = {"rankings": str(path)}
        if rankings:
            run_lmms_eval(model_dir, list(rankings), curves_dir(out, method), data, rankings, batch_size)


def build_data(out: Path, model_dir: Path, scenes: int, seed: int) -> None:
    types = toy_question_types(model_dir)
    if scenes < len(types) or scenes % len(types):
        raise ValueError(f"--scenes must be a multiple of the model's {len(types)} question types, got {scenes}")
    build_synth_set(scenes // len(types), seed, types).save(out / "data" / "synth", overwrite=True)
    build_photos_set(tuple(PHOTOS)).save(out / "data" / "photos", overwrite=True)


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Row:
    """One method's line in a dataset's table."""

    label: str
    recall_at_1: Metric | None
    igos_deletion_auc: Metric | None
    igos_insertion_auc: Metric | None
    deletion_auc: Metric | None
    insertion_auc: Metric | None
    scored: int
    documents: int
    passes_per_image: float | None
    seconds_per_image: float | None


def table_row(method: Method, dataset: str, attribution: RunOutput, curves: RunOutput | None, seconds: float | None) -> Row:
    """A row from the method's attribution run and its faithfulness follow-up (None: not run)."""
    task = method.tasks[dataset]
    found = attribution.metrics.get(task, {})
    counts = {k: int(found[f"documents_{k}"].value) if f"documents_{k}" in found else 0 for k in ("scored", "skipped", "failed")}
    documents = sum(counts.values())
    calls = [r["pixelshap"]["n_calls"] for r in attribution.samples.get(task, []) if r["pixelshap"].get("n_calls") is not None]
    curve = curves.metrics.get(FAITHFULNESS[dataset], {}) if curves else {}
    return Row(
        label=method.label,
        recall_at_1=found.get("recall_at_1"),
        igos_deletion_auc=found.get("igos_deletion_auc"),
        igos_insertion_auc=found.get("igos_insertion_auc"),
        deletion_auc=curve.get("deletion_auc"),
        insertion_auc=curve.get("insertion_auc"),
        scored=counts["scored"],
        documents=documents,
        passes_per_image=sum(calls) / len(calls) if calls else None,
        seconds_per_image=seconds / documents if seconds is not None and documents else None,
    )


def _metric(metric: Metric | None, stderr: bool = True) -> str:
    if metric is None:
        return MISSING
    spread = f" ± {metric.stderr:.3f}" if stderr and metric.stderr is not None and math.isfinite(metric.stderr) else ""
    return f"{metric.value:.3f}{spread}"


def _number(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def markdown_table(dataset: str, rows: list[Row]) -> str:
    """The dataset's table (Recall@1 only where a target exists: synth)."""
    recall = dataset == "synth"
    header = ["method", *(["Recall@1"] if recall else []), "`igos_deletion_auc`", "`igos_insertion_auc`",
              "deletion AUC (players)", "insertion AUC (players)", "scored / documents", "model passes / image", "s / image"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label, *([_metric(row.recall_at_1)] if recall else []), _metric(row.igos_deletion_auc, False),
                 _metric(row.igos_insertion_auc, False), _metric(row.deletion_auc), _metric(row.insertion_auc),
                 f"{row.scored} / {row.documents}", _number(row.passes_per_image, 0), _number(row.seconds_per_image, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def document_curves(curves: RunOutput | None, dataset: str) -> dict[str, tuple[float, float]]:
    """question id -> (deletion AUC, insertion AUC) of each document a follow-up scored."""
    if curves is None:
        return {}
    rows = curves.samples.get(FAITHFULNESS[dataset], [])
    return {
        str(r["pixelshap"]["question_id"]): (float(r["deletion_auc"]), float(r["insertion_auc"]))
        for r in rows if "deletion_auc" in r and "insertion_auc" in r
    }


def paired_note(label: str, scored: dict[str, tuple[float, float]], reference_label: str, reference: dict[str, tuple[float, float]]) -> str | None:
    """When a method's curves cover fewer documents than the reference's (iGOS skips documents
    without a visually relevant token), the reference's means on the same documents."""
    shared = sorted(set(scored) & set(reference))
    if not shared or set(scored) == set(reference):
        return None
    deletion = sum(reference[q][0] for q in shared) / len(shared)
    insertion = sum(reference[q][1] for q in shared) / len(shared)
    return (
        f"{label}'s curves are defined on {len(scored)} documents, {reference_label}'s on {len(reference)}; "
        f"{reference_label} on the {len(shared)} both cover: deletion {deletion:.3f} / insertion {insertion:.3f}."
    )


def tables(out: Path, chosen: tuple[Method, ...]) -> str:
    """The markdown tables of every method run under `out` (methods without results are left out),
    each with the non-shipped settings of its runs and, against the first row's documents, the
    paired curve means of rows that scored fewer documents."""
    parts = []
    for dataset in DATASETS:
        rows, notes, pairs = [], [], []
        reference: tuple[str, dict[str, tuple[float, float]]] | None = None
        for method in chosen:
            folder = attribution_dir(out, dataset, method)
            if not list(folder.glob("*/*_results.json")):  # never run, failed, or still running
                continue
            attribution = load_run(folder, method.label)
            curves_at = curves_dir(out, method)
            curves = load_run(curves_at, method.label) if list(curves_at.glob("*/*_results.json")) else None
            timing = folder / TIMING
            seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
            rows.append(table_row(method, dataset, attribution, curves, seconds))
            settings = folder / "pixelshap_config.yaml"
            if settings.is_file():
                notes.append(f"{method.label}: `{json.dumps(yaml.safe_load(settings.read_text()), sort_keys=True)}`")
            per_document = document_curves(curves, dataset)
            if reference is None:
                reference = (method.label, per_document) if per_document else None
            else:
                pair = paired_note(method.label, per_document, *reference)
                if pair:
                    pairs.append(pair)
        if rows:
            text = f"### pixelshap_{dataset}\n\n{markdown_table(dataset, rows)}"
            text += "".join(f"\n\n{pair}" for pair in pairs)
            text += f"\n\nPIXELSHAP_CONFIG of the runs not as shipped: {'; '.join(notes)}" if notes else ""
            parts.append(text)
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/compare_igos"))
    parser.add_argument("--scenes", type=int, default=40, help="synthetic scenes, a multiple of the question types (default 40)")
    parser.add_argument("--model-dir", type=Path, default=TOY_MODEL_DIR)
    parser.add_argument("--reinitialised", action="store_true", help="run a re-initialised copy of the model (randomisation test)")
    parser.add_argument("--methods", default="exact,kernel,igos+,igos++", help="comma-separated subset of exact,kernel,igos+,igos++")
    parser.add_argument("--igos-config", help="iGOS settings merged into both variants': YAML file, YAML mapping or k=v,k=v")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table-only", action="store_true", help="print the tables of the runs already under --out")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    every = methods(parse_igos_config(args.igos_config))
    keys = [key.strip() for key in args.methods.split(",") if key.strip()]
    unknown = sorted(set(keys) - {m.key for m in every})
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; choose from {[m.key for m in every]}")
    out = args.out.resolve()
    if not args.table_only:
        if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
            raise SystemExit(f"--out {out} holds files this script did not write; choose a new or empty folder")
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by scripts/compare_igos.py; its data/, models/ and runs/ are replaced on the next run\n")
        model_dir = args.model_dir.resolve()
        if args.reinitialised:
            model_dir = reinitialised_copy(model_dir, out / "models" / "reinitialised", args.seed)
        build_data(out, args.model_dir.resolve(), args.scenes, args.seed)
        run_all(out, model_dir, tuple(m for m in every if m.key in keys), args.batch_size)
    print(tables(out, every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
