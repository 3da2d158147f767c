"""Optional: questions written by an OpenAI-compatible chat endpoint, as the PixelSHAP paper
did with GPT-4o, in place of the COCO builder's templates.

Only the standard library talks to the endpoint (`POST <base_url>/chat/completions`), so any
OpenAI-compatible server works (OpenAI, vLLM, SGLang, a local stub). Requests ask for
temperature 0 and a fixed seed; servers may still vary, so generated sets are reproducible
only as far as the endpoint is.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from pixelshap_eval.data.coco import QuestionRequest

DEFAULT_BASE_URL = "https://api.openai.com/v1"
SYSTEM_PROMPT = (
    "You write evaluation questions for vision-language models. Each question must be answerable "
    "only by looking at one given object in the image."
)
USER_PROMPT = (
    "The image ({width}x{height} pixels) shows: {objects}. Write one short question about the {target} "
    "(box x={x:.0f}, y={y:.0f}, w={w:.0f}, h={h:.0f} pixels) that can be answered only by looking at the "
    "{target}: ask about its colour, position, action, material or state. Do not ask to count, do not "
    "mention any other object, do not give away the answer. Reply with the question only."
)
MIME_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class MissingAPIKeyError(RuntimeError):
    """No API key for the chat endpoint."""


class QuestionGenerationError(RuntimeError):
    """The chat endpoint failed or answered with no usable question."""


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible chat endpoint; the key is read from the environment variable `api_key_env`."""

    model: str = "gpt-4o"
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    seed: int = 0


class ChatQuestionWriter:
    """A `coco.QuestionWriter` that asks a chat model for one question per target."""

    def __init__(self, endpoint: ChatEndpoint, environ: Mapping[str, str] = os.environ) -> None:
        key = environ.get(endpoint.api_key_env, "").strip()
        if not key:
            raise MissingAPIKeyError(
                f"questions from a chat endpoint need an API key in ${endpoint.api_key_env}: set it, "
                "or build without --openai-questions to use the built-in templates"
            )
        self.endpoint = endpoint
        self._key = key

    def __call__(self, request: QuestionRequest) -> str:
        reply = self._post(self._payload(request))
        try:
            question = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise QuestionGenerationError(
                f"{self._url}: reply has no choices[0].message.content: {reply!r:.300}"
            ) from error
        question = " ".join(str(question or "").split()).strip('"')
        if not question.endswith("?"):
            raise QuestionGenerationError(
                f"{self._url}: expected one question for the {request.target_name} in {request.image_file}, got {question!r}"
            )
        return question

    @property
    def _url(self) -> str:
        return self.endpoint.base_url.rstrip("/") + "/chat/completions"

    def _payload(self, request: QuestionRequest) -> dict:
        x, y, w, h = request.target_box
        mime = MIME_TYPES.get(os.path.splitext(request.image_file)[1].lower(), "image/jpeg")
        image_url = f"data:{mime};base64," + base64.b64encode(request.image_bytes).decode("ascii")
        text = USER_PROMPT.format(
            width=request.width,
            height=request.height,
            objects=", ".join((request.target_name, *request.other_names)),
            target=request.target_name,
            x=x,
            y=y,
            w=w,
            h=h,
        )
        return {
            "model": self.endpoint.model,
            "temperature": 0,
            "seed": self.endpoint.seed,
            "max_tokens": 64,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": image_url}}],
                },
            ],
        }

    def _post(self, payload: dict) -> dict:
        http_request = urllib.request.Request(
            self._url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.endpoint.timeout_s) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", "replace")[:300]
            raise QuestionGenerationError(f"{self._url} answered HTTP {error.code}: {body}") from error
        except (urllib.error.URLError, TimeoutError) as error:
            raise QuestionGenerationError(f"could not reach {self._url}: {error}") from error
        except json.JSONDecodeError as error:
            raise QuestionGenerationError(f"{self._url} did not answer with JSON: {error}") from error
