"""`pixelshap_store`: any lmms-eval model, with every response kept in a durable store.

    lmms-eval --model pixelshap_store \\
        --model_args inner=openai,store=runs/responses.sqlite,model=gpt-4o,base_url=... --tasks pixelshap_coco

`inner` names the model to run (any lmms-eval model: `pixelshap_hf`, `openai`, a bundled
wrapper) and `store` the SQLite file; every other model argument, and `--batch_size`, go to the
inner model. Requests are keyed by content (`request_key`), answered from the store where
possible, and the rest are sent to the inner model in chunks of `chunk` requests (default 64),
each chunk committed before the next is asked for. A run killed part-way (or one that failed
after the model step) is rerun with the same command and asks the model only for what the store
does not hold yet.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from lmms_eval import utils
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from pixelshap_eval.lmms.request_key import request_key
from pixelshap_eval.lmms.response_store import ResponseStore

DEFAULT_CHUNK = 64
_WRAPPER_ARGS = ("inner", "store", "chunk")


class StoredResponses(lmms):
    """Wraps an lmms-eval model; answers each request from the store or asks the model once."""

    def __init__(self, inner: lmms, inner_name: str, inner_args: dict[str, Any], store: str, chunk: int = DEFAULT_CHUNK) -> None:
        if chunk < 1:
            raise ValueError(f"pixelshap_store: chunk must be a positive number of requests, not {chunk}")
        self.inner = inner  # before lmms.__init__, which sets task_dict (forwarded to the inner model)
        super().__init__()
        self.is_simple = inner.is_simple
        # a model may name settings its answers depend on beyond its arguments (pixelshap_hf: the
        # masking path, also when left at its default), so that the store never mixes the two
        identifying = {**inner_args, **getattr(inner, "response_identity", {})}
        self.identity = json.dumps([inner_name, sorted((str(k), str(v)) for k, v in identifying.items())])
        self.store = ResponseStore(store)
        self.chunk = chunk
        self._rank, self._world_size = inner.rank, inner.world_size
        self.served = self.computed = 0

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> StoredResponses:
        from lmms_eval.models import get_model

        args = utils.simple_parse_args_string(arg_string)
        missing = [name for name in ("inner", "store") if name not in args]
        if missing:
            raise ValueError(
                f"pixelshap_store needs model_args {' and '.join(missing)}: e.g. "
                "--model_args inner=pixelshap_hf,store=runs/responses.sqlite,pretrained=..."
            )
        inner_name, store, chunk = str(args.pop("inner")), str(args.pop("store")), int(args.pop("chunk", DEFAULT_CHUNK))
        if inner_name == "pixelshap_store":
            raise ValueError("pixelshap_store cannot wrap itself; set inner= to the model to run")
        store_check = ResponseStore(store)  # a bad store path fails before the model is loaded
        store_check.close()
        inner_string = ",".join(f"{key}={value}" for key, value in args.items())
        inner = get_model(inner_name).create_from_arg_string(inner_string, additional_config)
        return cls(inner, inner_name, args, store, chunk)

    # lmms-eval sets task_dict on the model before asking it anything; the inner model needs it
    @property
    def task_dict(self) -> dict:
        return self.inner.task_dict

    @task_dict.setter
    def task_dict(self, value: dict) -> None:
        self.inner.task_dict = value

    def generate_until(self, requests: list[Instance]) -> list:
        return self._answer("generate_until", requests, encode=_encode_text, decode=str)

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        return self._answer("loglikelihood", requests, encode=lambda r: [float(r[0]), bool(r[1])], decode=lambda r: (float(r[0]), bool(r[1])))

    def generate_until_multi_round(self, requests: list[Instance]) -> list:
        return self._answer("generate_until_multi_round", requests, encode=_encode_text, decode=str)

    def clean(self) -> None:
        self.store.close()
        self.inner.clean()

    def _answer(self, request_type: str, requests: list[Instance], encode, decode) -> list:
        keys = [request_key(self.identity, request_type, request.args, self._doc) for request in requests]
        stored = self.store.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in stored]
        for start in range(0, len(missing), self.chunk):
            chunk = missing[start : start + self.chunk]
            responses = getattr(self.inner, request_type)([requests[i] for i in chunk])
            encoded = [encode(response) for response in responses]
            self.store.put_many(request_type, zip((keys[i] for i in chunk), encoded))
            stored.update(zip((keys[i] for i in chunk), encoded))
        self.served += len(requests) - len(missing)
        self.computed += len(missing)
        print(
            f"pixelshap_store: {request_type}: {len(requests) - len(missing)} of {len(requests)} requests served from "
            f"{self.store.path}, {len(missing)} computed (rank {self.rank})",
            file=sys.stderr, flush=True,
        )
        return [decode(stored[key]) for key in keys]

    def _doc(self, doc_id: Any, task: str, split: str) -> Any:
        return self.inner.task_dict[task][split][doc_id]


def _encode_text(response: Any) -> str:
    """A generate_until response as stored: its text (lmms-eval unwraps GenerationResult the same way)."""
    if isinstance(response, str):
        return response
    text = getattr(response, "text", None)
    if isinstance(text, str):
        return text
    raise TypeError(f"pixelshap_store: the inner model returned a {type(response).__name__}, not text; it cannot be stored")
