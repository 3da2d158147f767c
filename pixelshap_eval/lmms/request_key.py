"""The key of an lmms-eval request: a digest of everything that determines its response.

lmms-eval's own `--use_cache` keys a response by task, document id and request index, so a
changed image, a changed mask or a changed question gets a stale answer. Here a request is keyed
by what the model actually receives: the model's identity and arguments, the request type, and
every argument of the request with its callables (visuals, chat messages, a continuation read at
model time) evaluated on the document and images reduced to a digest of their pixels. Document
ids, task names and splits are left out: two requests that show the model the same thing share
one response.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from PIL import Image

DocLookup = Callable[[Any, str, str], Any]  # (doc_id, task, split) -> document


def request_key(model_identity: str, request_type: str, args: tuple, doc_lookup: DocLookup) -> str:
    """sha256 of (model, request type, the request's arguments as the model will see them).

    lmms-eval request arguments end with (doc_id, task, split) in both request forms (simple:
    context, gen_kwargs or continuation, doc_to_visual; chat: context, doc_to_messages,
    gen_kwargs); every callable before them is evaluated on that document.
    """
    *content, doc_id, task, split = args
    doc: list[Any] = []  # looked up once, and only when a callable needs it

    def resolve(value: Any) -> Any:
        if callable(value):
            if not doc:
                doc.append(doc_lookup(doc_id, task, split))
            return value(doc[0])
        return value

    hasher = hashlib.sha256()
    hasher.update(json.dumps([model_identity, request_type]).encode())
    for value in content:
        _feed(hasher, resolve(value))
    return hasher.hexdigest()


def _feed(hasher: Any, value: Any) -> None:
    """Feed a canonical, type-tagged encoding of `value` into `hasher`."""
    if isinstance(value, Image.Image):
        hasher.update(f"<image {value.mode} {value.size[0]}x{value.size[1]}>".encode())
        hasher.update(value.tobytes())
    elif isinstance(value, np.ndarray):
        hasher.update(f"<array {value.dtype.str} {value.shape}>".encode())
        hasher.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, float) and not math.isfinite(value):
        hasher.update(f"<float {value}>".encode())
    elif value is None or isinstance(value, (str, bool, int, float)):
        hasher.update(json.dumps(value).encode())
    elif isinstance(value, Mapping):
        hasher.update(b"{")
        for key in sorted(value, key=str):
            hasher.update(json.dumps(str(key)).encode() + b":")
            _feed(hasher, value[key])
        hasher.update(b"}")
    elif isinstance(value, (list, tuple)):
        hasher.update(b"[")
        for item in value:
            _feed(hasher, item)
            hasher.update(b",")
        hasher.update(b"]")
    else:
        raise TypeError(
            f"cannot key a request argument of type {type(value).__name__}: the response store only "
            "knows text, numbers, images, arrays, lists and dicts; run this task without the store"
        )
