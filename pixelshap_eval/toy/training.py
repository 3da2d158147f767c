"""Training of the toy VLM: next-token loss on the answer plus a dense auxiliary loss.

Recipe (from a measured prototype, see issue 5): a tiny LLaVA whose 16-px patches each see
exactly one grid cell of a 64x64 synthetic scene; next-token loss on the one-word answer and
`</s>`, plus dense auxiliary losses, through linear heads that are discarded after training:

- on the projector's image tokens, per-patch colour, shape and quadrant classes, so that the
  vision tower gets useful gradients (without it, the gradients reaching the tower were
  100-1000x smaller than the text model's and shapes were never learned);
- on the text model's hidden state of each image token after `routing_layer` layers, whether
  that patch holds the question's (visible) referent. The chat template puts the question
  before the image, so image tokens can see it.

Measured on this 2-core CPU (teacher-forced validation, seed 0): with the image before the
question and no referent loss, the referent questions were still near chance (0.3-0.7) after
2,900 steps; question first without the referent loss reached 0.67-0.99 at step 1,500 and
0.97-1.00 at 2,250; question first with it, 0.93-1.00 at step 1,500 and 1.00 at 3,500.

AdamW at lr 2e-3, batch 64, linear warm-up then cosine decay to 5%. Every training image has
random objects blacked out (`pixelshap_eval.toy.examples`).

Determinism: the same config, thread count and torch build give the same weights; another
thread count or build can change floating-point reduction order, hence the low bits, hence
(through training) the weights.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import LlavaForConditionalGeneration, LlavaProcessor

from pixelshap_eval.data.synth import GRID, QUESTION_TYPES
from pixelshap_eval.toy import TRAINING_RECORD
from pixelshap_eval.toy.config import ToyArchitecture, build_config
from pixelshap_eval.toy.examples import COLOR_CLASSES, SHAPE_CLASSES, HidingPolicy, ToyExample, sample_examples
from pixelshap_eval.toy.processor import build_processor, conversation

ANSWER_TOKENS = 2  # the one-word answer and </s>: with left padding, always the last two tokens
QUADRANT_OF_PATCH = torch.tensor([(r // 2) * 2 + c // 2 for r in range(GRID) for c in range(GRID)])
MODEL_INPUTS = ("input_ids", "attention_mask", "position_ids", "pixel_values")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run depends on; the defaults made the shipped model."""

    seed: int = 0
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 200
    aux_weight: float = 1.0
    routing_layer: int = 2  # text-model layer whose image-token states learn "referent here"
    question_types: tuple[str, ...] = QUESTION_TYPES
    threads: int = 1
    log_every: int = 100
    val_every: int = 250
    val_size: int = 512
    device: str = "cpu"
    architecture: ToyArchitecture = field(default_factory=ToyArchitecture)
    hiding: HidingPolicy = field(default_factory=HidingPolicy)

    def __post_init__(self) -> None:
        unknown = [t for t in self.question_types if t not in QUESTION_TYPES]
        if unknown or not self.question_types:
            raise ValueError(f"unknown or no question types {unknown or self.question_types}; choose from {QUESTION_TYPES}")
        for name in ("steps", "batch_size", "warmup", "threads", "log_every", "val_every", "val_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 1 <= self.routing_layer <= self.architecture.text_layers:
            raise ValueError(f"routing_layer must be in 1..{self.architecture.text_layers}, got {self.routing_layer}")


class AuxiliaryHeads(nn.Module):
    """Linear per-token classifiers of colour, shape and quadrant on the image tokens."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.color = nn.Linear(hidden, len(COLOR_CLASSES))
        self.shape = nn.Linear(hidden, len(SHAPE_CLASSES))
        self.quadrant = nn.Linear(hidden, 4)
        self.referent = nn.Linear(hidden, 1)

    def loss(self, tokens: torch.Tensor, routed: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """`tokens`: projector outputs; `routed`: text-model states at the image tokens."""
        colors, shapes = batch["colors"], batch["shapes"]
        tokens = tokens.reshape(colors.shape[0], GRID * GRID, -1)
        quadrants = QUADRANT_OF_PATCH.to(tokens.device).expand(colors.shape[0], -1)
        ce = nn.functional.cross_entropy
        return (
            ce(self.color(tokens).flatten(0, 1), colors.flatten())
            + ce(self.shape(tokens).flatten(0, 1), shapes.flatten())
            + ce(self.quadrant(tokens).flatten(0, 1), quadrants.flatten())
            + nn.functional.binary_cross_entropy_with_logits(self.referent(routed)[..., 0], batch["referent"])
        )


def encode_batch(processor: LlavaProcessor, examples: list[ToyExample], device: str) -> dict[str, torch.Tensor]:
    """Left-padded teacher-forcing batch: prompt + answer + </s>, labels on the last two tokens;
    position ids count real tokens only, as `generate` does with left padding."""
    texts = [processor.apply_chat_template(conversation(ex.question, ex.answer), tokenize=False) for ex in examples]
    batch = processor(images=[ex.image for ex in examples], text=texts, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    labels[:, -ANSWER_TOKENS:] = batch["input_ids"][:, -ANSWER_TOKENS:]
    return {
        "input_ids": batch["input_ids"].to(device),
        "attention_mask": batch["attention_mask"].to(device),
        "position_ids": (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0).to(device),
        "pixel_values": batch["pixel_values"].to(device),
        "labels": labels.to(device),
        "colors": torch.from_numpy(np.stack([ex.color_labels for ex in examples])).to(device),
        "shapes": torch.from_numpy(np.stack([ex.shape_labels for ex in examples])).to(device),
        "referent": torch.from_numpy(np.stack([np.arange(GRID * GRID) == ex.target_patch for ex in examples])).float().to(device),
    }


def learning_rate(step: int, config: TrainingConfig) -> float:
    """Linear warm-up, then cosine decay from `lr` to 5% of it at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def answer_accuracy(model, batch: dict[str, torch.Tensor], types: list[str]) -> dict[str, float]:
    """Teacher-forced accuracy of the answer word (= greedy first token), per question type."""
    with torch.no_grad():
        logits = model(**{k: batch[k] for k in MODEL_INPUTS}).logits
    correct = (logits[:, -ANSWER_TOKENS - 1].argmax(-1) == batch["input_ids"][:, -ANSWER_TOKENS]).cpu().numpy()
    return {t: float(correct[[i for i, q in enumerate(types) if q == t]].mean()) for t in sorted(set(types))}


def train(
    config: TrainingConfig = TrainingConfig(), log: Callable[[str], None] = print
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor, dict]:
    """(model, processor, training record) of one deterministic run of `config`. Torch's
    thread count and deterministic-algorithms switch are set for the run and restored after."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(config, log)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(config: TrainingConfig, log: Callable[[str], None]) -> tuple[LlavaForConditionalGeneration, LlavaProcessor, dict]:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    val_rng = np.random.default_rng(np.random.SeedSequence([config.seed, 2]))
    types = tuple(config.question_types)

    processor = build_processor()
    model = LlavaForConditionalGeneration(build_config(processor.tokenizer, config.architecture)).to(config.device)
    heads = AuxiliaryHeads(model.config.text_config.hidden_size).to(config.device)
    captured: dict[str, torch.Tensor] = {}
    hook = model.model.multi_modal_projector.register_forward_hook(lambda _m, _i, out: captured.update(tokens=out))
    params = [*model.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.01)

    val_examples = sample_examples(val_rng, config.val_size, types)
    val_batch = encode_batch(processor, val_examples, config.device)
    val_types = [ex.question_type for ex in val_examples]
    history = []
    start = time.monotonic()
    model.train()
    for step in range(config.steps):
        batch = encode_batch(processor, sample_examples(rng, config.batch_size, types, config.hiding), config.device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        out = model(**{k: batch[k] for k in (*MODEL_INPUTS, "labels")}, output_hidden_states=True)
        image_positions = batch["input_ids"] == model.config.image_token_id
        routed = out.hidden_states[config.routing_layer][image_positions].reshape(len(image_positions), GRID * GRID, -1)
        aux = heads.loss(captured["tokens"], routed, batch)
        loss = out.loss + config.aux_weight * aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if (step + 1) % config.log_every == 0:
            log(f"step {step + 1:5d}  lm {out.loss.item():.4f}  aux {aux.item():.4f}  "
                f"lr {learning_rate(step, config):.2e}  {time.monotonic() - start:7.1f}s")
        if (step + 1) % config.val_every == 0 or step + 1 == config.steps:
            model.eval()
            accuracy = answer_accuracy(model, val_batch, val_types)
            model.train()
            history.append({"step": step + 1, "seconds": round(time.monotonic() - start, 1), "val_accuracy": accuracy})
            log(f"  validation (teacher-forced, {config.val_size} masked scenes): {accuracy}")
    hook.remove()
    model.eval()
    record = {
        **asdict(config),
        "train_seconds": round(time.monotonic() - start, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "history": history,
    }
    return model, processor, record


def save_toy_model(model: LlavaForConditionalGeneration, processor: LlavaProcessor, record: dict, out: str | Path) -> Path:
    """Model, processor and training record in `out`; weights as float16 safetensors (half the
    size), with config dtype float32 so that `from_pretrained` loads them as float32."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.to("cpu", torch.float16).save_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    config["dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    processor.save_pretrained(out)
    (out / TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    for path in out.iterdir():  # safetensors writes 0600; package data must be world-readable
        path.chmod(0o644)
    return out
