"""Which answer tokens iGOS+ explains: the visually relevant ones, by the published rule.

A position t of a multi-token answer is kept when log p(t | image) - log p(t | baseline) exceeds
`threshold` (1.0 nats), its decoded string is not a stop-word or punctuation, and it is not the
first answer position. A one-token answer (a multiple-choice letter) is kept when
p_baseline <= ratio * p_image (ratio 0.5). The reference used a fixed list of LLaMA-2 token
ids for the stop-words and applied it unchanged to other tokenizers; here the decision is made
on each token's decoded string from the model's own tokenizer (the same words: newline, space,
".", ",", "-", "(", ")", "the", "and", "of", "a", "an", "this", "that", "is", "with", and any
other all-punctuation string). When nothing qualifies the document is skipped with a reason,
as in the reference, and the caller counts it: nothing is silently kept.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

STOP_WORDS = frozenset({"the", "and", "of", "a", "an", "this", "that", "is", "with"})


class DocumentSkipped(Exception):
    """iGOS cannot explain this document (no visually relevant token, an empty answer); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenSelection:
    """The selected answer positions and the evidence they were chosen on."""

    positions: tuple[int, ...]
    token_strings: tuple[str, ...]
    logp_image: tuple[float, ...]
    logp_baseline: tuple[float, ...]

    @property
    def selected_strings(self) -> tuple[str, ...]:
        return tuple(self.token_strings[p] for p in self.positions)


def is_stop_token(text: str) -> bool:
    """Whether a decoded token string is a stop-word, whitespace or punctuation only."""
    word = text.strip().lower()
    return word in STOP_WORDS or all(ch in string.punctuation or ch.isspace() for ch in word)


def select_visual_tokens(
    logp_image: Sequence[float] | np.ndarray,
    logp_baseline: Sequence[float] | np.ndarray,
    token_strings: Sequence[str],
    threshold: float = 1.0,
    single_token_ratio: float = 0.5,
    drop_stop_words: bool = True,
) -> TokenSelection:
    """The published selection over one answer's teacher-forced token log-probabilities;
    DocumentSkipped when no position qualifies. `drop_stop_words=False` keeps stop-words and
    punctuation (a sanity run on a randomised model, whose answers can be punctuation only)."""
    image = np.asarray(logp_image, dtype=float)
    baseline = np.asarray(logp_baseline, dtype=float)
    if image.ndim != 1 or image.shape != baseline.shape or len(token_strings) != image.size:
        raise ValueError(
            f"logp_image ({image.shape}), logp_baseline ({baseline.shape}) and token_strings ({len(token_strings)}) "
            "must describe the same answer tokens"
        )
    if image.size == 0:
        raise DocumentSkipped("the answer has no tokens")
    if not (np.isfinite(image).all() and np.isfinite(baseline).all()):
        raise ValueError("token log-probabilities must be finite")
    if not 0.0 < single_token_ratio <= 1.0:
        raise ValueError(f"single_token_ratio must be in (0, 1], got {single_token_ratio}")
    if image.size == 1:
        kept = [0] if baseline[0] <= math.log(single_token_ratio) + image[0] else []
        why = f"one-token answer with p_baseline > {single_token_ratio} * p_image"
    else:
        kept = [
            t for t in range(1, image.size)
            if image[t] - baseline[t] > threshold and not (drop_stop_words and is_stop_token(token_strings[t]))
        ]
        excluded = " (stop-words excluded)" if drop_stop_words else ""
        why = f"no answer token after the first gains more than {threshold} nats from the image{excluded}"
    if not kept:
        raise DocumentSkipped(why)
    return TokenSelection(
        positions=tuple(kept), token_strings=tuple(token_strings),
        logp_image=tuple(image.tolist()), logp_baseline=tuple(baseline.tolist()),
    )
