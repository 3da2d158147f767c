"""The lmms-eval task classes: one attribution per document, as ordinary lmms-eval requests.

Per document: build the players, plan the coalitions (seeded by the task seed and the
document's question id), emit one request per coalition (`generate_until` for the similarity
value; a full-image `generate_until` then one `loglikelihood` per coalition for the
log-probability value), then in `process_results` turn the responses into values, solve for
Shapley values and score them. lmms-eval runs request types in the order they first appear,
so the full-image answer exists before its log-probability is asked for; the continuation is
a callable read at model time.
"""

from __future__ import annotations

import abc
import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from datasets import Image as ImageFeature
from lmms_eval.api.instance import Instance
from lmms_eval.api.task import ConfigurableTask
from loguru import logger as eval_logger
from PIL import Image

from pixelshap_eval.data.locate import dataset_dir, load_pixelshap_dataset
from pixelshap_eval.lmms.config import AttributionConfig, budget_for, load_config
from pixelshap_eval.lmms.documents import DocPlayers, doc_key, doc_players, doc_seed
from pixelshap_eval.lmms.provenance import PROVENANCE_KEY, provenance
from pixelshap_eval.lmms.routing import VIRTUAL_SPLIT, CoalitionDocs, CoalitionRef, register_router, request_callables
from pixelshap_eval.lmms.scoring import human_scores, object_scores
from pixelshap_eval.masking import mask_image
from pixelshap_eval.metrics import ranking
from pixelshap_eval.report.heatmap import save_overlay
from pixelshap_eval.shapley import Attribution, Coalitions, get_estimator
from pixelshap_eval.values import TextEmbedder, parse_loglikelihood, similarity_values

HEATMAP_FOLDER = "pixelshap_heatmaps"
_EMBEDDERS: dict[str | None, TextEmbedder] = {}
_EMBEDDER_LOCK = threading.Lock()


class AttributionTask(ConfigurableTask):
    """Base of the pixelshap tasks; subclasses say how a solved attribution is scored."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = dict(config or {})
        config.pop("class", None)
        block = config.pop("pixelshap", None)
        # a non-empty process_results keeps lmms-eval from looking metric names up in its registry
        config["process_results"] = f"{type(self).__module__}.{type(self).__name__}.process_results"
        self.settings: AttributionConfig = load_config(config["task"], block)
        self.estimator = get_estimator(self.settings.estimator)
        config["metadata"] = {**(config.get("metadata") or {}), "pixelshap": self.settings.as_dict()}
        self.request_style = "simple"  # set to "chat" by the plugin's TaskManager hook for chat models
        self._lock = threading.Lock()
        self._locations: dict[str, tuple[str, int]] = {}
        self._virtual_ids: dict[str, list[int]] = {}
        self._answer_requests: dict[tuple[str, int], Instance] = {}
        self._plans: dict[str, Coalitions] = {}
        self._players_cache = _LRU(16)
        self._image_cache = _LRU(16)
        self._doc_cache = _LRU(256)
        super().__init__(config=config, **kwargs)
        self.router = CoalitionDocs(self.config.task, self, self._doc)
        register_router(self.router)
        self.dataset[VIRTUAL_SPLIT] = self.router

    # --- data ---------------------------------------------------------------------------
    def download(self, dataset_kwargs: dict | None = None) -> None:
        """Load the built set at $PIXELSHAP_DATA_DIR/<set>, else the YAML's Hub id."""
        self.dataset = load_pixelshap_dataset(self.settings.dataset, hub_id=self.config.dataset_path)
        self.config.metadata[PROVENANCE_KEY] = provenance(self.dataset, dataset_dir(self.settings.dataset))
        self.dataset_no_image = DatasetDict(
            {
                split: data.remove_columns([c for c, f in data.features.items() if isinstance(f, ImageFeature)])
                for split, data in self.dataset.items()
            }
        )

    def _doc(self, split: str, doc_id: int) -> dict[str, Any]:
        return self._doc_cache.get((split, doc_id), lambda: self.dataset_no_image[split][int(doc_id)])

    def _image(self, split: str, doc_id: int) -> Image.Image:
        return self._image_cache.get((split, doc_id), lambda: self.dataset[split][int(doc_id)]["image"].convert("RGB"))

    def _players(self, split: str, doc_id: int) -> DocPlayers:
        def build() -> DocPlayers:
            image = self._image(split, doc_id) if self.settings.players == "sam" else None
            return doc_players(self._doc(split, doc_id), self.settings, image=image)

        return self._players_cache.get((split, doc_id), build)

    def _plan(self, key: str, n_players: int) -> Coalitions:
        with self._lock:
            if key not in self._plans:
                self._plans[key] = self.make_plan(key, n_players)
            return self._plans[key]

    def make_plan(self, key: str, n_players: int) -> Coalitions:
        """The coalitions of one document, a pure function of its key and player count."""
        budget = budget_for(self.settings.budget, n_players)
        return self.estimator.plan(n_players, budget, doc_seed(self.settings.seed, key))

    # --- requests -----------------------------------------------------------------------
    def construct_requests(self, doc_id: int, ctx: str, **kwargs: Any) -> list[Instance]:
        metadata = kwargs["metadata"]
        split = metadata["split"]
        doc = self._doc(split, doc_id)
        key = doc_key(doc)
        players = self._players(split, doc_id)
        if not players.regions:
            return []
        plan = self._plan(key, len(players.regions))
        with self._lock:
            if key in self._locations and self._locations[key] != (split, doc_id):
                raise ValueError(f"{self.config.task}: question_id {key!r} appears twice in the dataset; ids must be unique")
            self._locations[key] = (split, doc_id)
        instances: list[Instance] = []
        virtual_ids: list[int] = []

        def add(request_type: str, row: int, idx: int) -> Instance:
            virtual_id = self.router.add(CoalitionRef(split, doc_id, row))
            virtual_ids.append(virtual_id)
            instance = Instance(request_type=request_type, arguments=self._arguments(request_type, ctx, virtual_id), idx=idx, **kwargs)
            instances.append(instance)
            return instance

        if self.settings.value == "similarity":
            for row in range(len(plan)):
                add("generate_until", row, row)
        else:
            # The full-image answer comes first, also when a gold answer is scored: it is logged,
            # and it makes generate_until the first request type of every pixelshap task, so that
            # lmms-eval (which runs request types in order of first appearance) generates before
            # it scores, whatever order it puts the tasks of a run in.
            self._answer_requests[(split, doc_id)] = add("generate_until", 1, 0)
            for row in range(len(plan)):
                add("loglikelihood", row, row + 1)
        self._virtual_ids[key] = virtual_ids
        return instances

    def _arguments(self, request_type: str, ctx: str, virtual_id: int) -> tuple:
        visual, messages, continuation = request_callables(self.config.task)
        task = self.config.task
        if request_type == "loglikelihood":
            return (ctx, continuation, visual, virtual_id, task, VIRTUAL_SPLIT)
        generation = copy.deepcopy(self.config.generation_kwargs)
        if self.request_style == "chat":
            return (ctx, messages, generation, virtual_id, task, VIRTUAL_SPLIT)
        return (ctx, generation, visual, virtual_id, task, VIRTUAL_SPLIT)

    # --- the renderer the router calls at model time ------------------------------------
    def masked_image(self, ref: CoalitionRef) -> Image.Image:
        players = self._players(ref.split, ref.doc_id)
        plan = self._plan(doc_key(self._doc(ref.split, ref.doc_id)), len(players.regions))
        s = self.settings
        return mask_image(
            self._image(ref.split, ref.doc_id), players.regions, plan.masks[ref.row],
            strategy=s.strategy, fill=s.fill, dilation=s.dilation, box_margin=s.box_margin,
        )

    def question(self, ref: CoalitionRef) -> str:
        return self.doc_to_text(self._doc(ref.split, ref.doc_id))

    def reference_answer(self, ref: CoalitionRef) -> str:
        if self.settings.reference == "gold":
            return str(self._doc(ref.split, ref.doc_id)["answer"])
        request = self._answer_requests.get((ref.split, ref.doc_id))
        if request is None or not request.resps:
            raise RuntimeError(
                f"{self.config.task}: the full-image answer of document {ref.doc_id} was not generated before its "
                "log-probability was asked for. lmms-eval runs request types in the order they first appear: run "
                "pixelshap log-probability tasks without tasks that only ask for log-probabilities, or on their own."
            )
        return _text(request.resps[0])

    # --- results ------------------------------------------------------------------------
    def process_results(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        key = doc_key(doc)
        split, doc_id = self._locations[key]
        players = self._players(split, doc_id)
        plan = self._plan(key, len(players.regions))
        self._check_routing(key)
        full_answer, values = self._values(doc, results, len(plan))
        record: dict[str, Any] = {"question_id": key, "question": doc.get("question"), "full_answer": full_answer}
        if self.settings.value == "logprob":
            record["scored_answer"] = str(doc["answer"]) if self.settings.reference == "gold" else full_answer
        if self.settings.value == "similarity" and not full_answer:
            record["skipped"] = "the model gave an empty answer on the full image; nothing to compare with"
            return {"pixelshap": record}
        try:
            scores, details = self.evaluate(doc, players, plan, values)
        except Exception as error:  # one document's failure must not discard every other result of the run
            eval_logger.warning(f"{self.config.task}: question {key} could not be scored: {type(error).__name__}: {error}")
            record["error"] = f"{type(error).__name__}: {error}"
            record["coalition_values"] = np.asarray(values, dtype=float).tolist()
            return {"pixelshap": record}
        record.update(details)
        return {**scores, "pixelshap": record}

    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        """(metric values, sample-log details) of one document from its coalition values."""
        attribution = self.estimator.solve(plan, values)
        details = self._record(doc, players, attribution, values)
        key = doc_key(doc)
        heatmap = self._write_heatmap(key, *self._locations[key], players, attribution)
        if heatmap is not None:
            details["heatmap"] = heatmap
        return self.score(doc, players, attribution, plan, values), details

    @abc.abstractmethod
    def score(self, doc: dict[str, Any], players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
        """Per-document metric values of a solved attribution."""

    def _values(self, doc: dict[str, Any], results: list[Any], n_rows: int) -> tuple[str, np.ndarray]:
        """(reference answer, value of each planned coalition) from the model's responses."""
        if self.settings.value == "similarity":
            answers = [_text(r) for r in results]
            _check_count(self.config.task, answers, n_rows)
            full_answer = answers[1]
            if not full_answer:
                return full_answer, np.zeros(n_rows)
            with _EMBEDDER_LOCK:
                if self.settings.embedder not in _EMBEDDERS:
                    _EMBEDDERS[self.settings.embedder] = TextEmbedder(self.settings.embedder)
                embedder = _EMBEDDERS[self.settings.embedder]
                values = similarity_values(full_answer, answers, embedder)
            return full_answer, np.asarray(values, dtype=float)
        full_answer, scores = _text(results[0]), results[1:]
        _check_count(self.config.task, scores, n_rows)
        return full_answer, np.array([parse_loglikelihood(r) for r in scores], dtype=float)

    def _check_routing(self, key: str) -> None:
        if self.router.render_count() == 0:
            return  # every response came from a cache: no image was rendered in this process
        missing = self.router.unrendered(self._virtual_ids.get(key, []))
        if missing:
            raise RuntimeError(
                f"{self.config.task}: the model wrapper answered {len(missing)} coalition requests of question "
                f"{key} without ever building their images: it reuses one document for a whole batch, so every "
                "attribution would be wrong. Run this model with --batch_size 1, or use --model pixelshap_hf."
            )

    def _record(self, doc: dict[str, Any], players: DocPlayers, attribution: Attribution, values: np.ndarray) -> dict[str, Any]:
        target = players.target_region
        return {
            "players": [{"label": r.label, "box": list(r.box), "id": r.id} for r in players.regions],
            "values": attribution.values.tolist(),
            "std_errors": attribution.std_errors.tolist(),
            "ranking": ranking(attribution.values).tolist(),
            "target_index": players.target_index,
            "target_label": target.label if target is not None else None,
            "target_box": list(target.box) if target is not None else None,
            "value_full": attribution.value_full,
            "value_empty": attribution.value_empty,
            "coalition_values": np.asarray(values, dtype=float).tolist(),
            "n_players": len(players.regions),
            "image_size": [int(players.regions[0].mask.shape[1]), int(players.regions[0].mask.shape[0])],
            "n_calls": attribution.n_calls,
            "estimator": attribution.estimator,
            "value_function": self.settings.value,
        }

    def _write_heatmap(self, key: str, split: str, doc_id: int, players: DocPlayers, attribution: Attribution) -> str | None:
        output_path = getattr(getattr(self, "args", None), "output_path", None)
        if not (self.settings.heatmaps and output_path):
            return None
        root = Path(output_path)
        root = root.parent if root.suffix == ".json" else root
        relative = Path(HEATMAP_FOLDER) / self.config.task / f"{_slug(key)}.png"
        target_box = players.target_region.box if players.target_region is not None else None
        save_overlay(root / relative, self._image(split, doc_id), attribution.values, players.regions, target_box=target_box)
        return str(relative)


class ObjectAttributionTask(AttributionTask):
    """Object players; scored by where the question's target object ranks."""

    def score(self, doc, players, attribution, plan, values):
        return object_scores(players, attribution, plan, values)


class HumanAttributionTask(AttributionTask):
    """Grid players; scored against the patches people chose."""

    def score(self, doc, players, attribution, plan, values):
        return human_scores(list(doc["human_patches"]), attribution, plan, values)

    def _record(self, doc, players, attribution, values):
        return {**super()._record(doc, players, attribution, values), "human_patches": list(doc["human_patches"])}


class _LRU:
    """A small thread-safe least-recently-used cache (images and masks are large)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def _text(response: Any) -> str:
    if isinstance(response, (list, tuple)) and response and isinstance(response[0], str):
        response = response[0]
    return "" if response is None else str(response).strip()


def _check_count(task: str, results: list[Any], expected: int) -> None:
    if len(results) != expected:
        raise RuntimeError(f"{task}: expected {expected} coalition responses for a document, got {len(results)}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120]
