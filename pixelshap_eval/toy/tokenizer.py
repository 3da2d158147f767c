"""The toy model's word-level tokenizer, built with `tokenizers` (no download, ~90 words)."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from pixelshap_eval.data.synth import COLORS, DISTRACTOR_COLOR, NO_REFERENT_ANSWER, QUADRANTS, SHAPES

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>", IMAGE_TOKEN)
PUNCTUATION = tuple("?.,:;'\"()!-")
# Prompt words of the chat template and the synthetic questions, answers, and a few common
# question words so that other prompts (demo photos, one-word instructions) tokenize sensibly.
WORDS = (
    "user assistant what which color colour shape is are the object objects at of in on top bottom left right "
    "middle center a an answer with one word single please yes no does do this that image picture photo show "
    "there how many where who it black white brown pink person animal cat dog"
).split()


def vocabulary() -> list[str]:
    """Every token, in id order: special tokens, punctuation, then words (no duplicates)."""
    words = [*WORDS, *COLORS, DISTRACTOR_COLOR, *SHAPES, NO_REFERENT_ANSWER, *" ".join(QUADRANTS).split()]
    return list(dict.fromkeys([*SPECIAL_TOKENS, *PUNCTUATION, *words]))


def build_tokenizer(chat_template: str | None = None) -> PreTrainedTokenizerFast:
    """The toy model's lower-casing word-level tokenizer over `vocabulary()`."""
    return word_level_tokenizer(vocabulary(), [IMAGE_TOKEN], chat_template=chat_template, lowercase=True)


def word_level_tokenizer(
    tokens: list[str], extra_special: list[str], chat_template: str | None = None, lowercase: bool = False
) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer over `tokens` (which must start with `<pad> <unk> <s> </s>`
    and hold `extra_special`); unknown words map to `<unk>`, `</s>` ends answers.

    `padding_side="left"` is given to the constructor (not set afterwards) so that it is
    saved with the tokenizer: batched generation needs left padding after a reload.
    """
    missing = [t for t in ("<pad>", "<unk>", "<s>", "</s>", *extra_special) if t not in tokens]
    if missing:
        raise ValueError(f"the vocabulary lacks the special tokens {missing}")
    backend = Tokenizer(models.WordLevel(vocab={token: i for i, token in enumerate(tokens)}, unk_token="<unk>"))
    if lowercase:
        backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="left",
        extra_special_tokens=list(extra_special),
        chat_template=chat_template,
    )
