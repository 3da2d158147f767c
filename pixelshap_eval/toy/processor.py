"""The toy model's processor: CLIP-style image preprocessing at 64 px plus a LLaVA chat template."""

from __future__ import annotations

from transformers import CLIPImageProcessor, LlavaProcessor, PreTrainedTokenizerFast

from pixelshap_eval.data.synth import IMAGE_SIZE
from pixelshap_eval.toy.tokenizer import build_tokenizer

PATCH_SIZE = 16

# "USER: {question} <image> ASSISTANT: {answer}</s>": the question comes before the image
# tokens, so that each image token can attend to the question (causal attention) and mark
# itself as the referent; the answer then only has to read the marked token. Message content
# may be a list of typed parts (what `processor.apply_chat_template` passes; text parts are
# written first, then one "<image>" per image part) or a string (what lmms-eval's llava_hf
# passes, "<image>\n{question}"; its "<image>" markers are moved after the text).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ 'USER: ' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'].replace('<image>', '') | trim }}{{ ' <image>' * message['content'].count('<image>') }}"
    "{%- else -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{ ' <image>' }}{%- endfor -%}"
    "{%- endif -%}{{ ' ' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ 'ASSISTANT: ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}{{ part['text'] }}{%- endfor -%}{%- endif -%}{{ '</s>' }}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)


def build_processor(tokenizer: PreTrainedTokenizerFast | None = None) -> LlavaProcessor:
    """LlavaProcessor: images resized/cropped to 64x64, CLIP normalisation, one `<image>`
    expanded to the 16 patch tokens of a 64-px image with 16-px patches."""
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(CHAT_TEMPLATE)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def conversation(question: str, answer: str | None = None) -> list[dict]:
    """Chat messages of one image question (and its answer, for teacher forcing)."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages
