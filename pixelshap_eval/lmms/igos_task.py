"""The iGOS+/iGOS++ tasks: one mask per document, computed inside `pixelshap_hf`, pooled onto
the task's players and scored with the same metrics as a Shapley attribution.

Per document: one `generate_until` request on the full image (as the model sees it, downscaled
once to `max_image_side`) whose generation kwargs carry the iGOS settings and the document's
seed (`igos_requests`); the JSON mask that comes back is upsampled onto the image, 1 - mask is
averaged inside each player (objects: each region; grid: each cell), and those scores go to
the object metrics or, where the document has a human map, the grid metrics (a grid without
one, as on the photos, only scores the target where there is one), plus the reference's own
`igos_deletion_auc` / `igos_insertion_auc`.
A document without a visually relevant token is counted as skipped, with its reason.
"""

from __future__ import annotations

import copy
import math
from functools import partial
from typing import Any

import numpy as np
from lmms_eval.api.instance import Instance
from lmms_eval.api.task import ConfigurableTask
from PIL import Image

from pixelshap_eval.igos import IgosConfig
from pixelshap_eval.igos.pooling import pool_scores, saliency_map
from pixelshap_eval.lmms.base import load_built_set
from pixelshap_eval.lmms.config import AttributionConfig, load_config
from pixelshap_eval.lmms.counts import document_counts
from pixelshap_eval.lmms.documents import DocPlayers, doc_key, doc_players, doc_seed
from pixelshap_eval.lmms.igos_requests import parse_response, request_kwargs
from pixelshap_eval.lmms.records import attribution_record, write_heatmap
from pixelshap_eval.lmms.responses import response_text
from pixelshap_eval.lmms.scaling import model_view
from pixelshap_eval.lmms.scoring import defined_metrics, grid_metrics, object_metrics
from pixelshap_eval.lmms.shipped_tasks import known_task_names
from pixelshap_eval.shapley import Attribution, Coalitions


def model_image(max_image_side: int, doc: dict[str, Any]) -> list[Image.Image]:
    """The document's image as the model sees it (the players are built on the same size)."""
    return [model_view(doc["image"], max_image_side)]


class IgosTask(ConfigurableTask):
    """iGOS masks pooled onto the task's players (objects or grid cells)."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = dict(config or {})
        config.pop("class", None)
        block = config.pop("pixelshap", None)
        config["process_results"] = f"{type(self).__module__}.{type(self).__name__}.process_results"
        self.settings: AttributionConfig = load_config(config["task"], block, known_tasks=known_task_names())
        self.igos = IgosConfig.from_mapping(self.settings.igos)
        config["metadata"] = {**(config.get("metadata") or {}), "pixelshap": self.settings.as_dict()}
        self._locations: dict[str, tuple[str, int]] = {}
        super().__init__(config=config, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        """The built set at $PIXELSHAP_DATA_DIR/<set>, else the YAML's Hub id."""
        self.dataset, self.dataset_no_image = load_built_set(self, self.settings)

    def players(self, doc: dict[str, Any]) -> DocPlayers:
        if self.settings.players == "sam":
            raise ValueError(f"{self.config.task}: iGOS pools onto objects or grid cells; set players: objects or grid")
        return doc_players(doc, self.settings)

    def construct_requests(self, doc_id: int, ctx: str, **kwargs: Any) -> list[Instance]:
        split = kwargs["metadata"]["split"]
        doc = self.dataset_no_image[split][int(doc_id)]
        if not self.players(doc).regions:
            return []
        self._locations[doc_key(doc)] = (split, int(doc_id))
        generation = request_kwargs(copy.deepcopy(self.config.generation_kwargs), self.igos, doc_seed(self.settings.seed, doc_key(doc)))
        visual = partial(model_image, self.settings.max_image_side)
        arguments = (ctx, generation, visual, doc_id, self.config.task, split)
        return [Instance(request_type="generate_until", arguments=arguments, idx=0, **kwargs)]

    def process_results(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        response = parse_response(response_text(results[0]), self.config.task)
        record: dict[str, Any] = {"question_id": doc_key(doc), "question": doc.get("question"), "method": self.igos.variant}
        if response.skipped is not None:
            record["skipped"] = response.skipped
            return {**document_counts("skipped"), "pixelshap": record}
        fields = response.fields
        players = self.players(doc)
        width, height = players.regions[0].size
        mask = np.asarray(fields["mask"], dtype=float)
        scores = pool_scores(saliency_map(mask, (width, height)), players.regions)
        n = len(players.regions)
        attribution = Attribution(
            scores=scores, std_errors=np.zeros(n), n_calls=int(fields["model_passes"]), estimator=self.igos.variant,
            value_empty=math.nan, value_full=math.nan,
        )
        # no coalitions were asked about: the curve metrics of the plan are undefined and left out
        plan = Coalitions(masks=np.array([[False] * n, [True] * n]), estimator=self.igos.variant)
        values = np.full(2, math.nan)
        if players.frame is not None and "human_map" in doc:
            found = grid_metrics(doc, players.frame, attribution, plan, values)
        else:
            found = object_metrics(players, attribution, plan, values)
        found.update(defined_metrics({k: fields[k] for k in ("igos_deletion_auc", "igos_insertion_auc") if fields.get(k) is not None}))
        record.update(attribution_record(players, attribution, values, "igos"))
        # no coalition values exist (and NaN is not strict JSON): the record says so with nulls
        record.update({"value_full": None, "value_empty": None, "coalition_values": []})
        record.update({
            "full_answer": fields["answer"], "mask": fields["mask"], "masks": fields["masks"], "tokens": fields["tokens"],
            "token_positions": fields["positions"], "losses": fields["losses"], "seconds": fields["seconds"],
        })
        output_path = getattr(getattr(self, "args", None), "output_path", None)
        if self.settings.heatmaps and output_path:
            split, doc_id = self._locations[doc_key(doc)]
            image = model_image(self.settings.max_image_side, self.dataset[split][doc_id])[0]
            record["heatmap"] = write_heatmap(output_path, self.config.task, doc_key(doc), image, players, attribution)
        return {**found, **document_counts("scored"), "pixelshap": record}
