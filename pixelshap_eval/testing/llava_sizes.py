"""Random LLaVA-1.5-architecture models of a stated size, built offline, for benchmarks.

`LLAVA_1_5_7B` has the dimensions of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14 at 336 px, a
two-layer GELU projector, a 32-layer Llama with 4096 hidden units and a 32,064-token
vocabulary), so its compute per call is the real model's; `TINY` is the same structure at toy
size for tests on a CPU. Weights are random (nothing is downloaded): the answers are
meaningless, so a benchmark forces a fixed answer length with `min_new_tokens` in the saved
generation config. The tokenizer is the word-level test tokenizer padded with filler words
to the model's vocabulary, so every id the model can generate decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pixelshap_eval.testing.tiny_models import LLAVA_TEMPLATE, WORDS, word_tokenizer

IMAGE_TOKEN = "<image>"
# The CLIP image normalisation that LLaVA-1.5's processor uses (OpenAI CLIP statistics).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class LlavaSize:
    """Dimensions of a LLaVA-1.5 model: Llama text model, CLIP vision tower, image geometry."""

    name: str
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    vocab_size: int
    max_positions: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_layers: int
    vision_heads: int
    vision_projection_dim: int
    image_size: int
    patch_size: int

    @property
    def image_tokens(self) -> int:
        """Image tokens per prompt (one per patch; the CLS token is dropped by the 'default' strategy)."""
        return (self.image_size // self.patch_size) ** 2


LLAVA_1_5_7B = LlavaSize(
    name="llava-1.5-7b", hidden_size=4096, intermediate_size=11008, layers=32, heads=32, vocab_size=32064,
    max_positions=4096, vision_hidden_size=1024, vision_intermediate_size=4096, vision_layers=24, vision_heads=16,
    vision_projection_dim=768, image_size=336, patch_size=14,
)
TINY = LlavaSize(
    name="tiny", hidden_size=32, intermediate_size=64, layers=2, heads=2, vocab_size=256, max_positions=1024,
    vision_hidden_size=32, vision_intermediate_size=64, vision_layers=2, vision_heads=2, vision_projection_dim=32,
    image_size=56, patch_size=14,
)


def full_vocabulary_tokenizer(vocab_size: int):
    """The word-level test tokenizer with filler words up to exactly `vocab_size` tokens."""
    base = len(word_tokenizer([IMAGE_TOKEN]))
    if vocab_size < base:
        raise ValueError(f"vocab_size must be at least {base} (the test tokenizer's own tokens), got {vocab_size}")
    fillers = [f"filler{i}" for i in range(vocab_size - base)]
    return word_tokenizer([IMAGE_TOKEN], words=[*WORDS, *fillers], chat_template=LLAVA_TEMPLATE)


def llava_processor(size: LlavaSize):
    """A LlavaProcessor like LLaVA-1.5's: resize the short side, centre-crop, CLIP-normalise."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": size.image_size}, crop_size={"height": size.image_size, "width": size.image_size},
        do_center_crop=True, resample=3, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=full_vocabulary_tokenizer(size.vocab_size), patch_size=size.patch_size,
        vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE, num_additional_image_tokens=1,
    )


def llava_config(size: LlavaSize, tokenizer):
    """The LlavaConfig of `size` (LLaVA-1.5: penultimate CLIP layer, 'default' feature strategy)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=size.vision_hidden_size, intermediate_size=size.vision_intermediate_size,
        num_hidden_layers=size.vision_layers, num_attention_heads=size.vision_heads, image_size=size.image_size,
        patch_size=size.patch_size, projection_dim=size.vision_projection_dim, hidden_act="quick_gelu",
    )
    text = LlamaConfig(
        vocab_size=size.vocab_size, hidden_size=size.hidden_size, intermediate_size=size.intermediate_size,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.heads,
        max_position_embeddings=size.max_positions, rms_norm_eps=1e-5, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu",
        tie_word_embeddings=False,
    )


def build_llava(size: LlavaSize, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0):
    """(model, processor): a random model of `size`, its weights initialised on `device` in
    `dtype` (a 7B model is built on the GPU in seconds; "meta" builds no weights at all)."""
    from transformers import LlavaForConditionalGeneration

    processor = llava_processor(size)
    config = llava_config(size, processor.tokenizer)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlavaForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    return model.eval(), processor


def save_llava(
    size: LlavaSize, out_dir: str | Path, new_tokens: int, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0
) -> Path:
    """Build a random model of `size` and save it with its processor to `out_dir`, with a
    generation config whose `min_new_tokens` makes every answer exactly `new_tokens` long
    when asked for at most that many (random weights would otherwise stop at arbitrary lengths)."""
    if new_tokens < 1:
        raise ValueError(f"new_tokens must be >= 1, got {new_tokens}")
    model, processor = build_llava(size, dtype=dtype, device=device, seed=seed)
    model.generation_config.min_new_tokens = new_tokens
    out = Path(out_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
