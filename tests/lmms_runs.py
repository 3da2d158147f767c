"""Running the real `lmms-eval` command in a subprocess and reading what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LMMS_EVAL = [sys.executable, "-m", "lmms_eval"]


@dataclass(frozen=True)
class LmmsRun:
    """One finished lmms-eval run: its output folder, results and samples per task."""

    output: Path
    log: str
    results: dict
    samples: dict[str, list[dict]]

    def records(self, task: str) -> list[dict]:
        return [row["pixelshap"] for row in self.samples[task]]

    def metric(self, task: str, name: str) -> float:
        return self.results["results"][task][f"{name},none"]


def run_lmms(
    args: list[str], output: Path, env: dict[str, str], timeout: int = 600, command: list[str] | None = None, cwd: Path | None = None
) -> LmmsRun:
    """Run lmms-eval with `args` (plus --output_path/--log_samples/--verbosity DEBUG); fail the
    test with the log if it did not write its results (a failed run can still exit 0)."""
    full = [*(command or LMMS_EVAL), *args, "--output_path", str(output), "--log_samples", "--verbosity", "DEBUG"]
    done = subprocess.run(full, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    log = done.stdout + done.stderr
    results = sorted(output.glob("*/*_results.json"))
    if done.returncode != 0 or not results:
        raise AssertionError(f"lmms-eval failed (exit {done.returncode}); command: {' '.join(full)}\n{log[-6000:]}")
    samples = {}
    for path in output.glob("*/*_samples_*.jsonl"):
        task = path.stem.split("_samples_", 1)[1]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return LmmsRun(output=output, log=log, results=json.loads(results[-1].read_text()), samples=samples)

