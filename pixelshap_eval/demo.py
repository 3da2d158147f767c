"""The main job on the embedded default: the toy model through the real lmms-eval pipeline.

It builds the synthetic scenes (of the question types the shipped toy model claims) and the
package photos, runs `pixelshap_synth` (exact Shapley), `pixelshap_synth_kernel` (KernelSHAP at
2n+2 calls) and `pixelshap_photos` through `lmms-eval` with the toy model, runs them again with
the toy model's weights re-initialised (the model randomisation test: attributions of a model
that learned nothing must be at chance), and writes one HTML report with both side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import load_from_disk
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, GenerationConfig

from pixelshap_eval.data.cards import EVALUATION_SPLIT
from pixelshap_eval.data.photos import PHOTOS, build_photos_set
from pixelshap_eval.data.synth import build_synth_set
from pixelshap_eval.report.html import render_report
from pixelshap_eval.report.runs import RunOutput, load_run
from pixelshap_eval.toy import TOY_MODEL_DIR, toy_question_types

TASKS = ("pixelshap_synth", "pixelshap_synth_kernel", "pixelshap_photos")
LEAD = (
    "The embedded default: a tiny LLaVA trained on synthetic scenes whose answers depend, by construction, on "
    "exactly one object (the question's target). Its attributions should rank the target first; the same model "
    "with re-initialised weights (the model randomisation test) must not do better than chance. The real photos "
    "show the pipeline on real images: the toy model's answers there mean nothing."
)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs: where, how many scenes, with which model."""

    out: Path
    scenes_per_type: int = 25
    photos: tuple[str, ...] = tuple(PHOTOS)
    batch_size: int = 64
    seed: int = 0
    model_dir: Path = TOY_MODEL_DIR


@dataclass(frozen=True)
class DemoResult:
    report: Path
    runs: tuple[RunOutput, RunOutput]
    chance_recall_at_1: float


def run_demo(settings: DemoSettings) -> DemoResult:
    """Build the data, run both models through lmms-eval, write the report."""
    out = claim_output_folder(Path(settings.out).resolve())
    data = out / "data"
    step = _Steps(5)
    step("building the synthetic scenes and the package photos")
    types = toy_question_types(settings.model_dir)
    build_synth_set(settings.scenes_per_type, settings.seed, types).save(data / "synth", overwrite=True)
    build_photos_set(settings.photos).save(data / "photos", overwrite=True)
    step("re-initialising a copy of the toy model (model randomisation test)")
    randomized = reinitialised_copy(settings.model_dir, out / "models" / "toy-reinitialised", settings.seed)
    step("toy model through lmms-eval")
    trained_run = run_lmms_eval(settings.model_dir, out / "runs" / "toy", data, settings.batch_size)
    step("re-initialised toy model through lmms-eval")
    random_run = run_lmms_eval(randomized, out / "runs" / "toy-reinitialised", data, settings.batch_size)
    step("writing the report")
    runs = (load_run(trained_run, "trained toy model"), load_run(random_run, "re-initialised weights"))
    report = render_report(list(runs), out / "report.html", title="pixelshap_eval demo: the embedded toy model", lead=LEAD, originals=_originals(data))
    synth = load_from_disk(str(data / "synth"))[EVALUATION_SPLIT]
    chance = float(np.mean([1.0 / len(objects) for objects in synth["objects"]]))
    return DemoResult(report=report, runs=runs, chance_recall_at_1=chance)


def reinitialised_copy(model_dir: Path, out: Path, seed: int) -> Path:
    """The model of `model_dir` with freshly initialised weights (same config and processor)."""
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(model_dir))
    model.generation_config = GenerationConfig.from_pretrained(model_dir)
    model.save_pretrained(_fresh(out))
    AutoProcessor.from_pretrained(model_dir).save_pretrained(out)
    return out


def run_lmms_eval(model_dir: Path, output: Path, data: Path, batch_size: int) -> Path:
    """One real `lmms-eval` run of the demo tasks (its progress shows on the terminal)."""
    command = [
        sys.executable, "-m", "lmms_eval", "--model", "pixelshap_hf",
        "--model_args", f"pretrained={model_dir},dtype=float32", "--batch_size", str(batch_size),
        "--tasks", ",".join(TASKS), "--output_path", str(_fresh(output)), "--log_samples", "--verbosity", "WARNING",
    ]
    env = {**os.environ, "PIXELSHAP_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("PIXELSHAP_CONFIG", None)  # the demo runs the tasks as shipped
    subprocess.run(command, env=env, check=True, cwd=output)
    if not list(output.glob("*/*_results.json")):
        raise RuntimeError(f"lmms-eval wrote no results under {output}; its error is printed above")
    return output


def summary_lines(result: DemoResult) -> list[str]:
    """The headline numbers: Recall@1 of both models on the synthetic tasks, against chance."""
    lines = [f"{'task':<26}{'metric':<14}" + "".join(f"{run.label:>26}" for run in result.runs)]
    for task in TASKS:
        for name in ("recall_at_1", "deletion_auc", "insertion_auc"):
            cells = [run.metrics.get(task, {}).get(name) for run in result.runs]
            if all(cell is None for cell in cells):
                continue
            text = "".join(f"{'–':>26}" if c is None else f"{c.value:>17.3f} ± {c.stderr or 0:.3f}" for c in cells)
            lines.append(f"{task:<26}{name:<14}{text}")
    lines.append(f"chance Recall@1 on the synthetic scenes: {result.chance_recall_at_1:.3f}")
    return lines


def _originals(data: Path) -> dict:
    images = {}
    for name in ("synth", "photos"):
        for row in load_from_disk(str(data / name))[EVALUATION_SPLIT]:
            images[row["question_id"]] = row["image"]
    return images


MARKER = ".pixelshap-demo"  # marks a folder the demo made, whose contents it may replace


class OccupiedFolderError(FileExistsError):
    """--out holds files the demo did not write: it refuses to touch them."""


def claim_output_folder(out: Path) -> Path:
    """`out`, made or reused for the demo: a new or empty folder, or one an earlier demo made.
    Anything else is refused before any work, so the demo never deletes a user's files."""
    if out.exists() and not out.is_dir():
        raise OccupiedFolderError(f"--out {out} is a file; choose a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OccupiedFolderError(
            f"--out {out} already holds files the demo did not write; choose a new or empty folder (nothing was changed)"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by pixelshap-eval demo; its data/, models/, runs/ and report.html are replaced on the next demo\n")
    return out


def _fresh(folder: Path) -> Path:
    """An empty folder at `folder` (what an earlier demo left there is replaced)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


class _Steps:
    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def __call__(self, text: str) -> None:
        self.done += 1
        print(f"[demo {self.done}/{self.total}] {text}", flush=True)
