"""Tiny random vision-language models of the families the HF adapter supports.

They are built offline from configs (no weights are downloaded), with a word-level tokenizer
built by `tokenizers` and a processor carrying a chat template, so tests and benchmarks can run
the real HF code paths (processor, chat template, image tokens, generate, teacher-forced
scoring) in milliseconds. Their answers are meaningless by design.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerFast

from pixelshap_eval.toy.tokenizer import word_level_tokenizer

FAMILIES = ("llava", "llava_next", "qwen2_vl", "qwen2_5_vl")

WORDS = (
    "what is the color of object shape at top bottom left right does this image show a one word answer "
    "please yes no red green blue yellow gray white black circle square triangle person dog cat car "
    "frisbee man woman holding sitting on in and with which where how many"
).split()
_PUNCTUATION = list("?.,:'()!\n")

LLAVA_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ 'USER: ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<image>\\n' }}{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}{{ ' ' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'ASSISTANT: ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}{{ part['text'] }}{%- endfor -%}{%- endif -%}{{ '</s>' }}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)

QWEN_TEMPLATE = (
    "{%- for message in messages -%}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}{{ '<|im_end|>\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_QWEN_SPECIAL = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def word_tokenizer(extra_special: list[str], words: Sequence[str] = WORDS, chat_template: str | None = None) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer over a small English vocabulary (left padding, `</s>` ends answers)."""
    tokens = ["<pad>", "<unk>", "<s>", "</s>", *extra_special, *_PUNCTUATION, "USER", "ASSISTANT", *words]
    return word_level_tokenizer(tokens, extra_special, chat_template=chat_template)


def tiny_llava(seed: int = 0, image_size: int = 32, patch_size: int = 8):
    """(model, processor): a random LLaVA-1.5-architecture model (CLIP tower + Llama)."""
    from transformers import CLIPImageProcessor, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = word_tokenizer(["<image>"], chat_template=LLAVA_TEMPLATE)
    config = LlavaConfig(
        vision_config=_clip_config(image_size, patch_size),
        text_config=_llama_config(LlamaConfig, tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE, num_additional_image_tokens=1,
    )
    return _seeded(LlavaForConditionalGeneration, config, seed), processor


def tiny_llava_next(seed: int = 0, image_size: int = 32, patch_size: int = 8):
    """(model, processor): a random LLaVA-NeXT model (any-resolution tiles)."""
    from transformers import (
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    tokenizer = word_tokenizer(["<image>"], chat_template=LLAVA_TEMPLATE)
    pinpoints = [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]
    config = LlavaNextConfig(
        vision_config=_clip_config(image_size, patch_size),
        text_config=_llama_config(LlamaConfig, tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}, image_grid_pinpoints=pinpoints
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        vision_feature_select_strategy="default", chat_template=LLAVA_TEMPLATE, num_additional_image_tokens=1,
    )
    return _seeded(LlavaNextForConditionalGeneration, config, seed), processor


def tiny_qwen2_vl(seed: int = 0, version: str = "2"):
    """(model, processor): a random Qwen2-VL (version "2") or Qwen2.5-VL ("2.5") model."""
    import transformers as tf

    tokenizer = word_tokenizer(_QWEN_SPECIAL, chat_template=QWEN_TEMPLATE)
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in _QWEN_SPECIAL}
    if version == "2":
        config_cls, model_cls, processor_cls = tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration, tf.Qwen2VLProcessor
        vision: dict[str, Any] = {"depth": 1, "embed_dim": 32, "num_heads": 2, "mlp_ratio": 2, "hidden_size": 32}
    elif version == "2.5":
        config_cls, model_cls, processor_cls = tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration, tf.Qwen2_5_VLProcessor
        vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32,
                  "fullatt_block_indexes": [1], "window_size": 32}
    else:
        raise ValueError(f"unknown Qwen-VL version {version!r}: use '2' or '2.5'")
    patch, merge = 8, 2
    config = config_cls(
        vision_config={**vision, "patch_size": patch, "spatial_merge_size": merge, "temporal_patch_size": 2, "in_chans": 3},
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    pixels = (4 * patch * merge) ** 2
    image_processor = tf.Qwen2VLImageProcessor(patch_size=patch, merge_size=merge, temporal_patch_size=2,
                                               min_pixels=pixels, max_pixels=pixels)
    video_processor = tf.Qwen2VLVideoProcessor(patch_size=patch, merge_size=merge, temporal_patch_size=2)
    processor = processor_cls(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor, chat_template=QWEN_TEMPLATE
    )
    return _seeded(model_cls, config, seed), processor


def build_tiny_model(family: str, seed: int = 0):
    """(model, processor) of a tiny random model of `family` (one of FAMILIES)."""
    if family == "llava":
        return tiny_llava(seed)
    if family == "llava_next":
        return tiny_llava_next(seed)
    if family == "qwen2_vl":
        return tiny_qwen2_vl(seed, "2")
    if family == "qwen2_5_vl":
        return tiny_qwen2_vl(seed, "2.5")
    raise ValueError(f"unknown tiny model family {family!r}; choose one of {FAMILIES}")


def save_tiny_model(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny model of `family` and save model + processor to `out_dir`."""
    model, processor = build_tiny_model(family, seed)
    out = Path(out_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _clip_config(image_size: int, patch_size: int):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=image_size, patch_size=patch_size, projection_dim=32,
    )


def _llama_config(config_cls, tokenizer):
    return config_cls(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def _seeded(model_cls, config, seed: int):
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    return model.eval()
