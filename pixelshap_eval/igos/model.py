"""Teacher-forced answer log-probabilities as a differentiable function of the image.

`AnswerForcing` wraps an `HFRunner`'s model and processor: it generates the model's greedy
answer once, builds the prompt + answer inputs with the model's own processor, and then scores
any (3, H, W) image tensor in [0, 1] through the differentiable preprocessing, with optional
Gaussian noise in the normalised pixel space. Weights are frozen; the pixels are the only
leaves that gradients reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.igos.preprocess import Pixels, pixels_for
from pixelshap_eval.igos.tokens import DocumentSkipped
from pixelshap_eval.images import to_rgb


@dataclass(frozen=True, eq=False)
class ForcedInputs:
    """Prompt + answer model inputs (without pixel values) and the answer's token ids."""

    inputs: dict[str, Any]
    answer_ids: tuple[int, ...]
    pixel_shape: tuple[int, ...]


class AnswerForcing:
    """Greedy answers and teacher-forced scores of one HF vision-language model."""

    def __init__(self, runner: HFRunner) -> None:
        self.runner = runner
        self.model = runner.model
        self.model.requires_grad_(False)
        self.tokenizer = runner.tokenizer
        self.pixels: Pixels = pixels_for(runner.processor)
        self.passes = 0

    @property
    def device(self) -> torch.device:
        return self.runner.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def greedy_answer(self, image: Image.Image, question: str, max_new_tokens: int) -> tuple[int, ...]:
        """The token ids of the model's greedy answer, cut before its first end or pad token;
        DocumentSkipped when the answer is empty."""
        inputs = self._encode(self.runner.prompt(question), image)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                         pad_token_id=self.tokenizer.pad_token_id)
        self.passes += 1
        stops = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        ids: list[int] = []
        for token in output[0, inputs["input_ids"].shape[1] :].tolist():
            if token in stops:
                break
            ids.append(int(token))
        if not ids:
            raise DocumentSkipped("the model's greedy answer is empty")
        return tuple(ids)

    def forced_inputs(self, image: Image.Image, question: str, answer_ids: tuple[int, ...]) -> ForcedInputs:
        """The processor's inputs for prompt + answer on `image` (the pixel values are replaced per call)."""
        inputs = self._encode(self.runner.prompt(question), image)
        prompt_shape = inputs["input_ids"].shape
        answer = torch.tensor([answer_ids], device=self.device, dtype=inputs["input_ids"].dtype)
        for key, value in list(inputs.items()):
            if key == "input_ids":
                inputs[key] = torch.cat([value, answer], dim=1)
            elif key == "attention_mask":
                inputs[key] = torch.cat([value, torch.ones_like(answer)], dim=1)
            elif torch.is_tensor(value) and value.shape == prompt_shape:  # per-token extras: text for the answer
                inputs[key] = torch.cat([value, torch.zeros_like(answer).to(value.dtype)], dim=1)
        shape = tuple(inputs.pop("pixel_values").shape)
        return ForcedInputs(inputs=inputs, answer_ids=answer_ids, pixel_shape=shape)

    def token_logprobs(self, forced: ForcedInputs, rgb: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """log p(answer token t | image, question, earlier answer tokens) for every t, differentiable
        in `rgb` (3, H, W) in [0, 1]; `noise` is added to the normalised pixel values."""
        pixel_values = self.pixels(rgb)
        if tuple(pixel_values.shape) != forced.pixel_shape:
            raise ValueError(
                f"differentiable preprocessing gave pixel values of shape {tuple(pixel_values.shape)}, the processor "
                f"{forced.pixel_shape}: this processor's settings are not covered"
            )
        if noise is not None:
            pixel_values = pixel_values + noise
        length = len(forced.answer_ids)
        logits = self.model(**forced.inputs, pixel_values=pixel_values.to(self.dtype), logits_to_keep=length + 1).logits
        self.passes += 1
        logprobs = torch.log_softmax(logits[0, :-1].float(), dim=-1)
        targets = torch.tensor(forced.answer_ids, device=logprobs.device)
        return logprobs.gather(-1, targets[:, None])[:, 0]

    def token_strings(self, answer_ids: tuple[int, ...]) -> tuple[str, ...]:
        """Each answer token decoded alone by the model's tokenizer."""
        return tuple(self.tokenizer.decode([token]) for token in answer_ids)

    def _encode(self, prompt: str, image: Image.Image) -> dict[str, Any]:
        inputs = self.runner.processor(text=[prompt], images=[to_rgb(image)], return_tensors="pt")
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in inputs.items()}
