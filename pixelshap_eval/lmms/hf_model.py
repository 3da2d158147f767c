"""`pixelshap_hf`: an lmms-eval model for any `AutoModelForImageTextToText` + `AutoProcessor`.

Unlike most bundled wrappers it batches requests that each carry their own image (every
coalition of an attribution is a different masked image), and it implements `loglikelihood`
as the summed log-probability of the continuation given the image and the prompt (or, when the
task asks with `routing.MEAN_WITH_END_TOKEN`, the mean over the continuation and the end token);
a layer-wise request (`layer_requests.LayerwiseTarget` continuation) gets the continuation's
first-token probability at every requested decoder layer instead, as JSON text.

    lmms-eval --model pixelshap_hf --model_args pretrained=DIR,dtype=bfloat16 --batch_size 32 ...
    lmms-eval --model pixelshap_hf --model_args pretrained=DIR,randomize=full,randomize_seed=0 ...   (randomisation test)
    lmms-eval --model pixelshap_hf --model_args pretrained=DIR,masking=image ...   (mask the image, then preprocess)

Coalitions are masked in the model's input space by default (`masking=input`, `input_space`;
the default where the image processor has a torchvision backend, else `masking=image`):
the processor runs once per document and each coalition's pixels are blended from the processed
full and fill images; `masking=image` masks each coalition's image and preprocesses it, as
models without this path see it (exact at region borders, slower).

Under `accelerate launch`, each rank loads the model on its own GPU and lmms-eval shards the
documents across ranks.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from PIL import Image
from tqdm import tqdm

from pixelshap_eval.hf_runner import ContinuationScore, HFRunner
from pixelshap_eval.input_space import CoalitionInput, InputSpaceEncoder, supports_input_space
from pixelshap_eval.lmms.igos_requests import IGOS_KEY, answer_request, is_igos_request
from pixelshap_eval.lmms.layer_requests import LayerwiseTarget, encode_layer_response
from pixelshap_eval.lmms.randomise import randomise_weights
from pixelshap_eval.lmms.routing import VIRTUAL_SPLIT, router_for, split_end_token_marker

DEFAULT_MAX_NEW_TOKENS = 32
MASKING = ("input", "image")


class PixelShapHF(lmms):
    """Batched generate_until and loglikelihood over per-request images."""

    is_simple = True

    def __init__(
        self,
        pretrained: str,
        device: str | None = None,
        device_map: str | None = None,
        dtype: str = "auto",
        batch_size: int | str = 8,
        trust_remote_code: bool | str = False,
        attn_implementation: str | None = None,
        system_prompt: str | None = None,
        randomize: str | None = None,
        randomize_seed: int | str = 0,
        masking: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise ValueError(f"pixelshap_hf got unknown model_args {sorted(kwargs)}; known: pretrained, device, device_map, dtype, trust_remote_code, attn_implementation, system_prompt, randomize, randomize_seed, masking (and --batch_size)")
        if masking is not None and masking not in MASKING:
            raise ValueError(f"pixelshap_hf: masking must be one of {list(MASKING)} (input: blend preprocessed images, image: mask then preprocess), got {masking!r}")
        accelerator = Accelerator()
        if accelerator.num_processes > 1:
            device = f"cuda:{accelerator.local_process_index}" if torch.cuda.is_available() else "cpu"
            device_map = None
            self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        elif device is None and device_map is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.accelerator = accelerator
        model_kwargs: dict[str, Any] = {"trust_remote_code": str(trust_remote_code).lower() in ("1", "true", "yes")}
        if attn_implementation:
            model_kwargs["attn_implementation"] = attn_implementation
        self.runner = HFRunner.from_pretrained(
            pretrained, dtype=dtype, device=device, device_map=device_map or None,
            batch_size=int(batch_size), **model_kwargs,
        )
        self.runner.system_prompt = self._resolve_system_prompt(system_prompt) if system_prompt else None
        if randomize:  # the model-parameter randomisation test: same architecture, re-initialised weights
            randomise_weights(self.runner.model, str(randomize), int(randomize_seed))
        self._model = self.runner.model
        if masking is None:  # input space where the processor allows it
            masking = "input" if supports_input_space(self.runner.processor) else "image"
        if masking == "input" and not supports_input_space(self.runner.processor):
            raise ValueError(
                f"pixelshap_hf: masking=input needs a torchvision-backend image processor, and {pretrained} has "
                f"{type(self.runner.processor.image_processor).__name__}: pass masking=image"
            )
        self.masking = masking
        self.encoder = InputSpaceEncoder(self.runner.processor) if masking == "input" else None
        # what `pixelshap_store` keys responses on besides the model arguments: the two paths differ
        self.response_identity = {"masking": masking}

    @property
    def model(self):
        return self._model

    @property
    def device(self) -> torch.device:
        return self.runner.device

    def generate_until(self, requests: list[Instance]) -> list[str]:
        answers: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = defaultdict(list)
        progress = tqdm(total=len(requests), desc="pixelshap_hf generate", disable=self.rank != 0)
        for index, request in enumerate(requests):
            if is_igos_request(request.args[1]):  # an iGOS task's mask request: the answer is the JSON mask
                answers[index] = answer_request(self.runner, *self._image_and_question(request), request.args[1][IGOS_KEY])
                progress.update(1)
            else:
                groups[repr(sorted((request.args[1] or {}).items()))].append(index)
        for indices in groups.values():
            gen_kwargs = dict(requests[indices[0]].args[1] or {})
            until = gen_kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            max_new_tokens = int(gen_kwargs.pop("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
            hf_kwargs = _generation_kwargs(gen_kwargs)
            for start in range(0, len(indices), self.runner.batch_size):
                chunk = indices[start : start + self.runner.batch_size]
                blended, rendered = self._by_path([requests[i] for i in chunk])
                if blended:
                    texts = self.runner.generate_inputs(self._encode(blended), max_new_tokens=max_new_tokens, until=until, **hf_kwargs)
                    for (position, _, _), text in zip(blended, texts):
                        answers[chunk[position]] = text
                if rendered:
                    images, questions = zip(*(self._image_and_question(requests[chunk[p]]) for p in rendered))
                    texts = self.runner.generate(list(images), list(questions), max_new_tokens=max_new_tokens, until=until, **hf_kwargs)
                    for position, text in zip(rendered, texts):
                        answers[chunk[position]] = text
                progress.update(len(chunk))
        progress.close()
        return answers  # type: ignore[return-value]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool] | str]:
        """Summed log-probability of each continuation; for one ending in `MEAN_WITH_END_TOKEN`,
        the mean log-probability of its text's tokens and the end token (noted with the task's
        router, so that the task knows the request was scored as it asked)."""
        if any(isinstance(r.args[1], LayerwiseTarget) for r in requests):
            return self._with_layer_values(requests)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        asked = [split_end_token_marker(self._continuation(r)) for r in requests]
        progress = tqdm(total=len(requests), desc="pixelshap_hf loglikelihood", disable=self.rank != 0)
        for with_end in (False, True):
            indices = [i for i, (text, marked) in enumerate(asked) if marked == with_end]
            for start in range(0, len(indices), self.runner.batch_size):
                chunk = indices[start : start + self.runner.batch_size]
                scorable = [i for i in chunk if asked[i][0]]
                for i in chunk:  # nothing to score, but the task checks that every coalition was rendered
                    if not asked[i][0]:
                        self._image_and_question(requests[i])
                blended, rendered = self._by_path([requests[i] for i in scorable])
                scored: list[tuple[int, ContinuationScore]] = []
                if blended:
                    continuations = [asked[scorable[p]][0] for p, _, _ in blended]
                    scored += zip((scorable[p] for p, _, _ in blended), self.runner.score_inputs(self._encode(blended), continuations, include_eos=with_end))
                if rendered:
                    items = [self._image_and_question(requests[scorable[p]]) for p in rendered]
                    scored += zip((scorable[p] for p in rendered), self.runner.score(
                        [image for image, _ in items], [question for _, question in items], [asked[scorable[p]][0] for p in rendered],
                        include_eos=with_end,
                    ))
                for i, score in scored:
                    total = float(score.token_logprobs.mean()) if with_end else score.logprob
                    results[i] = (total, score.is_greedy)
                for i in chunk:
                    if results[i] is None:  # an empty continuation: probability 1, nothing to predict
                        results[i] = (0.0, True)
                    if with_end:
                        _, _, _, doc_id, task, _ = requests[i].args
                        router_for(task).note_end_token_scored(doc_id)
                progress.update(len(chunk))
        progress.close()
        return results  # type: ignore[return-value]

    def _with_layer_values(self, requests: list[Instance]) -> list[tuple[float, bool] | str]:
        """Plain loglikelihood requests answered as usual; layer-wise ones (`LayerwiseTarget`
        continuations) with their first-token probabilities at every requested layer, as JSON."""
        answers: list[tuple[float, bool] | str | None] = [None] * len(requests)
        groups: dict[object, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            target = request.args[1]
            groups[target.layers if isinstance(target, LayerwiseTarget) else None].append(index)
        plain = groups.pop(None, [])
        for i, result in zip(plain, self.loglikelihood([requests[i] for i in plain])):
            answers[i] = result
        progress = tqdm(total=len(requests) - len(plain), desc="pixelshap_hf layer values", disable=self.rank != 0)
        for layers, indices in groups.items():
            for start in range(0, len(indices), self.runner.batch_size):
                chunk = indices[start : start + self.runner.batch_size]
                images, questions = zip(*(self._image_and_question(requests[i]) for i in chunk))
                continuations = [self._continuation(requests[i]) for i in chunk]
                probs = self.runner.layer_first_token_probs(list(images), list(questions), continuations, layers)  # type: ignore[arg-type]
                for row, i in enumerate(chunk):
                    answers[i] = encode_layer_response(probs, row)
                progress.update(len(chunk))
        progress.close()
        return answers  # type: ignore[return-value]

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("pixelshap_hf answers single-turn requests only; multi-round tasks need another model")

    def _by_path(self, requests: list[Instance]) -> tuple[list[tuple[int, str, CoalitionInput]], list[int]]:
        """Split requests into those masked in input space ((position, question, coalition)) and
        the positions of those that need their image rendered (masking=image, or a request that is
        not a coalition of a task masking with players)."""
        blended: list[tuple[int, str, CoalitionInput]] = []
        rendered: list[int] = []
        for position, request in enumerate(requests):
            _, _, _, doc_id, task, split = request.args
            coalition = router_for(task).render_input(doc_id) if self.encoder is not None and split == VIRTUAL_SPLIT else None
            if coalition is None:
                rendered.append(position)
            else:
                blended.append((position, str(request.args[0]), coalition))
        return blended, rendered

    def _encode(self, blended: list[tuple[int, str, CoalitionInput]]) -> dict[str, torch.Tensor]:
        assert self.encoder is not None
        return self.encoder.encode([self.runner.prompt(question) for _, question, _ in blended], [c for _, _, c in blended])

    def _doc(self, request: Instance) -> dict:
        _, _, _, doc_id, task, split = request.args
        return self.task_dict[task][split][doc_id]

    def _image_and_question(self, request: Instance) -> tuple[Image.Image, str]:
        """The request's one image (its visual callable is args[2] in both request forms) and prompt."""
        visuals = request.args[2](self._doc(request))
        visuals = visuals if isinstance(visuals, list) else [visuals]
        images = [v for v in visuals if isinstance(v, Image.Image)]
        if len(images) != 1 or len(visuals) != 1:
            raise ValueError(f"pixelshap_hf takes exactly one image per request; task {request.args[4]!r} gave {len(visuals)} visual(s)")
        return images[0], str(request.args[0])

    def _continuation(self, request: Instance) -> str:
        target = request.args[1]
        return target if isinstance(target, str) else str(target(self._doc(request)))


def _generation_kwargs(gen_kwargs: dict[str, Any]) -> dict[str, Any]:
    """lmms-eval generation kwargs -> `generate` kwargs (temperature 0 means greedy)."""
    temperature = float(gen_kwargs.pop("temperature", 0) or 0)
    do_sample = bool(gen_kwargs.pop("do_sample", False)) or temperature > 0
    kwargs: dict[str, Any] = {"do_sample": do_sample}
    if do_sample:
        kwargs["temperature"] = temperature or 1.0
        if "top_p" in gen_kwargs and gen_kwargs["top_p"] is not None:
            kwargs["top_p"] = float(gen_kwargs["top_p"])
    if gen_kwargs.get("num_beams"):
        kwargs["num_beams"] = int(gen_kwargs["num_beams"])
    return kwargs
