"""The toy model's architecture: a tiny LLaVA (CLIP vision tower, 2-layer MLP projector, Llama)."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, PreTrainedTokenizerFast

from pixelshap_eval.data.synth import IMAGE_SIZE
from pixelshap_eval.toy.processor import PATCH_SIZE
from pixelshap_eval.toy.tokenizer import IMAGE_TOKEN


@dataclass(frozen=True)
class ToyArchitecture:
    """Sizes of the tiny LLaVA; the defaults are those of the shipped model."""

    vision_hidden: int = 128
    vision_layers: int = 3
    text_hidden: int = 128
    text_layers: int = 3
    heads: int = 4
    mlp_ratio: int = 2
    max_positions: int = 128


def build_config(tokenizer: PreTrainedTokenizerFast, arch: ToyArchitecture = ToyArchitecture()) -> LlavaConfig:
    """LlavaConfig with one image token per 16-px patch of the 64-px image (16 tokens), last
    vision layer features without CLS ("default" strategy)."""
    vision = CLIPVisionConfig(
        hidden_size=arch.vision_hidden,
        intermediate_size=arch.mlp_ratio * arch.vision_hidden,
        num_hidden_layers=arch.vision_layers,
        num_attention_heads=arch.heads,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=arch.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=arch.text_hidden,
        intermediate_size=arch.mlp_ratio * arch.text_hidden,
        num_hidden_layers=arch.text_layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.heads,
        max_position_embeddings=arch.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
        tie_word_embeddings=True,
    )
