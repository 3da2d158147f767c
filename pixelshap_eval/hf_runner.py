"""Batched question answering and answer scoring with any HF image-text-to-text model.

One image and one question per item, so each coalition's masked image travels with its own
request. Used by the `pixelshap_hf` lmms-eval adapter and by `explain()` users directly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pixelshap_eval.images import to_rgb
from pixelshap_eval.logit_lens import LayerProbs, LayerSpec, first_token_probs, lens_parts, resolve_layers


@dataclass(frozen=True)
class ContinuationScore:
    """Teacher-forced score of one continuation: per-token log-probabilities, and whether
    greedy decoding would have produced every one of its tokens."""

    token_logprobs: np.ndarray
    is_greedy: bool

    @property
    def logprob(self) -> float:
        return float(self.token_logprobs.sum())


def check_model_source(path: str | Path) -> None:
    """FileNotFoundError naming the problem when `path` is neither a model folder nor a usable Hub id
    (transformers would report a missing folder as a malformed Hub id)."""
    text = str(path)
    folder = Path(text).expanduser()
    looks_like_path = folder.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1 or "\\" in text
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"model folder {folder} has no config.json: pass the folder a model was saved to (save_pretrained)")
        return
    if folder.exists():
        raise FileNotFoundError(f"pretrained={text} is a file, not a model folder")
    if looks_like_path:
        raise FileNotFoundError(f"model folder {folder} does not exist: check pretrained=")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise FileNotFoundError(
            f"pretrained={text} is not a local folder, and the Hub is offline (HF_HUB_OFFLINE=1): pass the model's folder, "
            "or download it first"
        )


class HFRunner:
    """Runs an `AutoModelForImageTextToText` model with its `AutoProcessor` in batches."""

    def __init__(self, model: Any, processor: Any, batch_size: int = 32, system_prompt: str | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.batch_size = batch_size
        self.system_prompt = system_prompt
        self._prompts: dict[tuple[str | None, str], str] = {}
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        dtype: str | torch.dtype = "auto",
        device: str | None = None,
        device_map: str | dict | None = None,
        batch_size: int = 32,
        **model_kwargs: Any,
    ) -> HFRunner:
        """Load model and processor from a folder or Hub id (offline runs need a local folder)."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        check_model_source(path)
        if isinstance(dtype, str) and dtype != "auto":
            dtype = getattr(torch, dtype)
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype, device_map=device_map, **model_kwargs)
        if device is not None and device_map is None:
            model = model.to(device)
        processor = AutoProcessor.from_pretrained(str(path))
        return cls(model, processor, batch_size=batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompt(self, question: str) -> str:
        """The chat-templated prompt for one image followed by `question` (templated once per
        question: every coalition of a document asks the same one)."""
        key = (self.system_prompt, question)
        if key not in self._prompts:
            if len(self._prompts) >= _PROMPT_MEMO:
                self._prompts.clear()
            self._prompts[key] = self._template(question)
        return self._prompts[key]

    def _template(self, question: str) -> str:
        messages = []
        if self.system_prompt:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.system_prompt}]})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def generate(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        max_new_tokens: int = 32,
        until: Sequence[str] = (),
        **generate_kwargs: Any,
    ) -> list[str]:
        """Greedy (unless told otherwise) answers, one per (image, question) pair."""
        _check_lengths(images, questions)
        answers: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch_images = [to_rgb(im) for im in images[start : start + self.batch_size]]
            batch_prompts = [self.prompt(q) for q in questions[start : start + self.batch_size]]
            answers.extend(self.generate_inputs(self._encode(batch_prompts, batch_images), max_new_tokens, until, **generate_kwargs))
        return answers

    def generate_inputs(
        self, inputs: dict[str, torch.Tensor], max_new_tokens: int = 32, until: Sequence[str] = (), **generate_kwargs: Any
    ) -> list[str]:
        """`generate` for one batch already encoded (processor outputs, or `input_space`'s)."""
        inputs = self.to_model(inputs)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                **{"do_sample": False, **generate_kwargs},
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_cut_at_stop(text, until).strip() for text in texts]

    def score(
        self,
        images: Sequence[Image.Image],
        questions: Sequence[str],
        continuations: Sequence[str],
        include_eos: bool = False,
    ) -> list[ContinuationScore]:
        """Teacher-forced log-probabilities of each continuation given its image and question;
        with `include_eos`, of the continuation followed by the tokenizer's end token (the
        probability that the answer also stops there)."""
        _check_lengths(images, questions, continuations)
        scores: list[ContinuationScore] = []
        for start in range(0, len(images), self.batch_size):
            stop = start + self.batch_size
            scores.extend(
                self._score_batch(
                    [to_rgb(im) for im in images[start:stop]],
                    [self.prompt(q) for q in questions[start:stop]],
                    list(continuations[start:stop]),
                    include_eos,
                )
            )
        return scores

    def loglikelihood(
        self, images: Sequence[Image.Image], questions: Sequence[str], continuations: Sequence[str]
    ) -> np.ndarray:
        """Summed log-probability of each continuation."""
        return np.array([s.logprob for s in self.score(images, questions, continuations)], dtype=float)

    def layer_first_token_probs(
        self, images: Sequence[Image.Image], questions: Sequence[str], answers: Sequence[str], layers: LayerSpec = "all"
    ) -> LayerProbs:
        """The probability of each answer's first token given its image and question, read
        through the logit lens at each of `layers` (see `logit_lens`), one forward per item.
        An empty answer has probability 1 at every layer (nothing to predict)."""
        _check_lengths(images, questions, answers)
        chosen = resolve_layers(layers, lens_parts(self.model).n_layers)
        probs = np.ones((len(images), len(chosen)))
        first = [self.tokenizer(a, add_special_tokens=False)["input_ids"][:1] for a in answers]
        todo = [i for i, ids in enumerate(first) if ids]
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start : start + self.batch_size]
            inputs = self._encode([self.prompt(questions[i]) for i in rows], [to_rgb(images[i]) for i in rows])
            probs[rows] = first_token_probs(self.model, inputs, [first[i][0] for i in rows], chosen)
        return LayerProbs(layers=chosen, n_layers=lens_parts(self.model).n_layers, probs=probs)

    def _encode(self, prompts: list[str], images: list[Image.Image]) -> dict[str, torch.Tensor]:
        return dict(self.processor(text=prompts, images=images, return_tensors="pt", padding=True))

    def to_model(self, inputs: Any) -> dict[str, torch.Tensor]:
        """A batch of processor outputs on the model's device, floating tensors in its dtype."""
        dtype = next(self.model.parameters()).dtype
        moved = {}
        for key, value in inputs.items():
            if torch.is_tensor(value):
                value = value.to(self.device)
                if value.is_floating_point():
                    value = value.to(dtype)
            moved[key] = value
        return moved

    def _score_batch(
        self, images: list[Image.Image], prompts: list[str], continuations: list[str], include_eos: bool = False
    ) -> list[ContinuationScore]:
        return self.score_inputs(self._encode(prompts, images), continuations, include_eos)

    def score_inputs(
        self, inputs: dict[str, torch.Tensor], continuations: Sequence[str], include_eos: bool = False
    ) -> list[ContinuationScore]:
        """`score` for one batch already encoded (one prompt and image per row)."""
        inputs = self.to_model(inputs)
        ids, mask = inputs.pop("input_ids"), inputs.pop("attention_mask")
        targets = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        if any(len(t) == 0 for t in targets):
            raise ValueError("every continuation must contain at least one token; got an empty continuation")
        if include_eos:
            if self.tokenizer.eos_token_id is None:
                raise ValueError("include_eos needs a tokenizer with an end token (eos_token_id is None)")
            targets = [t + [int(self.tokenizer.eos_token_id)] for t in targets]
        per_token_keys = [k for k, v in inputs.items() if torch.is_tensor(v) and v.shape == ids.shape]
        rows = [ids[i][mask[i].bool()].tolist() + targets[i] for i in range(len(continuations))]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id

        def left_pad(values: list[list[int]], fill: int) -> torch.Tensor:
            return torch.tensor([[fill] * (width - len(v)) + v for v in values], device=self.device)

        inputs["input_ids"] = left_pad(rows, pad)
        inputs["attention_mask"] = left_pad([[1] * len(r) for r in rows], 0)
        for key in per_token_keys:
            extra = inputs[key]
            inputs[key] = left_pad(
                [extra[i][mask[i].bool()].tolist() + [0] * len(targets[i]) for i in range(len(rows))], 0
            ).to(extra.dtype)
        longest = max(len(t) for t in targets)
        with torch.inference_mode():
            logits = self.model(**inputs, logits_to_keep=longest + 1).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)  # position j predicts token j+1
        scores = []
        for i, target in enumerate(targets):
            token_ids = torch.tensor(target, device=self.device)
            positions = logprobs[i, longest - len(target) :]
            chosen = positions.gather(-1, token_ids[:, None])[:, 0]
            greedy = bool((positions.argmax(-1) == token_ids).all())
            scores.append(ContinuationScore(token_logprobs=chosen.cpu().numpy().astype(float), is_greedy=greedy))
        return scores


_PROMPT_MEMO = 4096  # templated prompts kept (questions); cleared when full


def _cut_at_stop(text: str, until: Sequence[str]) -> str:
    for stop in until:
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text


def _check_lengths(*sequences: Sequence[Any]) -> None:
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise ValueError(f"images, questions (and continuations) must have equal lengths, got {[len(s) for s in sequences]}")
