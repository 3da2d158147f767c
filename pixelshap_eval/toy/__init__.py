"""The toy VLM: a tiny LLaVA trained on synthetic scenes, shipped inside the package.

It is a test instrument whose reliance is known by construction (its answer depends on the
question's target object and on nothing else), not a general VLM. `load_toy_model()` loads the
shipped weights; `scripts/train_toy_vlm.py` rebuilds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

TOY_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "toy_vlm"
TRAINING_RECORD = "training.json"


def load_toy_model(model_dir: str | Path = TOY_MODEL_DIR, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """(model, processor) of the shipped toy VLM, in eval mode."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"no toy model in {model_dir}: reinstall pixelshap-eval, or run scripts/train_toy_vlm.py --out {model_dir}"
        )
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    return model, AutoProcessor.from_pretrained(model_dir)


def toy_question_types(model_dir: str | Path = TOY_MODEL_DIR) -> tuple[str, ...]:
    """The question types the toy model was trained on (and claims), from its training record."""
    record = Path(model_dir) / TRAINING_RECORD
    if not record.is_file():
        raise FileNotFoundError(f"{record} is missing: the toy model folder is incomplete; retrain it")
    return tuple(json.loads(record.read_text())["question_types"])
