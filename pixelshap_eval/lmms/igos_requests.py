"""How an iGOS task asks `pixelshap_hf` for a mask, and how the mask travels back.

lmms-eval requests carry text, not gradients, so the optimisation runs inside the model
wrapper: the task sends one `generate_until` request per document whose generation kwargs hold
`pixelshap_igos: {settings..., seed}`; `pixelshap_hf` answers it with a JSON object (the coarse
mask(s), the selected tokens, the loss curve, the reference metric, or the reason the document
was skipped) instead of an answer. Any other model answers with plain text, which
`parse_response` turns into one error naming `pixelshap_hf`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image

from pixelshap_eval.hf_runner import HFRunner
from pixelshap_eval.igos import DocumentSkipped, IgosConfig, explain_igos

IGOS_KEY = "pixelshap_igos"
RESPONSE_FORMAT = "pixelshap-igos/1"


def request_kwargs(generation: dict[str, Any], config: IgosConfig, seed: int) -> dict[str, Any]:
    """The generation kwargs of a document's iGOS request."""
    return {**generation, IGOS_KEY: {**dataclasses.asdict(config), "seed": int(seed)}}


def is_igos_request(gen_kwargs: Any) -> bool:
    return isinstance(gen_kwargs, dict) and IGOS_KEY in gen_kwargs


def answer_request(runner: HFRunner, image: Image.Image, question: str, spec: dict[str, Any]) -> str:
    """Run iGOS for one request (model side) and return the JSON response."""
    spec = dict(spec)
    seed = int(spec.pop("seed", 0))
    config = IgosConfig.from_mapping(spec)
    try:
        result = explain_igos(runner, image, question, None, config, seed=seed)
    except DocumentSkipped as skipped:
        return json.dumps({"format": RESPONSE_FORMAT, "skipped": skipped.reason})
    reference = result.reference
    return json.dumps({
        "format": RESPONSE_FORMAT,
        "answer": result.answer,
        "mask": result.mask.tolist(),
        "masks": [m.tolist() for m in result.masks],
        "positions": list(result.tokens.positions),
        "tokens": list(result.tokens.selected_strings),
        "losses": list(result.losses),
        "igos_deletion_auc": reference.deletion_auc if reference else None,
        "igos_insertion_auc": reference.insertion_auc if reference else None,
        "model_passes": result.model_passes,
        "seconds": result.seconds,
    })


@dataclass(frozen=True)
class IgosResponse:
    """A parsed iGOS response: `skipped` is the reason when there is no mask."""

    fields: dict[str, Any]

    @property
    def skipped(self) -> str | None:
        reason = self.fields.get("skipped")
        return None if reason is None else str(reason)


def parse_response(text: str, task: str) -> IgosResponse:
    """The iGOS response of one document; a RuntimeError naming `pixelshap_hf` when the model
    answered with anything else (only `pixelshap_hf` can compute gradients)."""
    try:
        fields = json.loads(text)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict) or fields.get("format") != RESPONSE_FORMAT:
        raise RuntimeError(
            f"{task} needs --model pixelshap_hf: iGOS optimises a mask with gradients through the model, which only "
            f"pixelshap_hf computes (inside its generate_until); this model answered with text ({str(text)[:60]!r})"
        )
    return IgosResponse(fields)
