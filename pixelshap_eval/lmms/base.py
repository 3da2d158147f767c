"""The base of every pixelshap task: documents -> players -> a plan of coalitions -> one
lmms-eval request per coalition, each answered on its own masked image -> one value per row.

Per document: build the players, plan the coalitions (`make_plan`, a pure function of the
document's key and player count), emit one request per coalition (`generate_until` for the
similarity value; a full-image `generate_until` then one `loglikelihood` per coalition for the
log-probability and geometric-mean values), then in `process_results` turn the responses into coalition values
(`responses`) and hand them to `evaluate`. lmms-eval runs request types in the order they
first appear, so the full-image answer exists before its log-probability is asked for; the
continuation is a callable read at model time. Siblings differ in their plan and in what they
make of the values: attribution tasks solve an estimator (`task`), faithfulness tasks read
curves of a given ranking (`faithfulness`).
"""

from __future__ import annotations

import abc
import copy
import hashlib
import threading
from typing import Any

import numpy as np
from datasets import DatasetDict
from datasets import Image as ImageFeature
from lmms_eval.api.instance import Instance
from lmms_eval.api.task import ConfigurableTask
from loguru import logger as eval_logger
from PIL import Image

from pixelshap_eval.data.locate import dataset_dir, load_pixelshap_dataset
from pixelshap_eval.input_space import MAX_ATOMS, CoalitionInput, PixelAtoms, pixel_atoms
from pixelshap_eval.lmms.cache import LRUCache
from pixelshap_eval.lmms.config import AttributionConfig, load_config
from pixelshap_eval.lmms.counts import document_counts
from pixelshap_eval.lmms.documents import DocPlayers, doc_key, doc_players
from pixelshap_eval.lmms.provenance import PROVENANCE_KEY, provenance
from pixelshap_eval.lmms.responses import coalition_values, response_text
from pixelshap_eval.lmms.routing import MEAN_WITH_END_TOKEN, VIRTUAL_SPLIT, CoalitionRef, CoalitionRouter, register_router, request_callables
from pixelshap_eval.lmms.scaling import model_view
from pixelshap_eval.lmms.shipped_tasks import known_task_names
from pixelshap_eval.shapley import Coalitions

UNPLANNED = "unplanned"  # the estimator name of the stand-in plan of a document that could not be planned


def load_built_set(task: ConfigurableTask, settings: AttributionConfig) -> tuple[DatasetDict, DatasetDict]:
    """(the data, an image-free copy for fast document reads) of `task`: the built set at
    $PIXELSHAP_DATA_DIR/<set>, else the YAML's Hub id; its provenance goes in the task metadata."""
    dataset = load_pixelshap_dataset(settings.dataset, hub_id=task.config.dataset_path)
    task.config.metadata[PROVENANCE_KEY] = provenance(dataset, dataset_dir(settings.dataset))
    no_image = DatasetDict(
        {
            split: data.remove_columns([c for c, f in data.features.items() if isinstance(f, ImageFeature)])
            for split, data in dataset.items()
        }
    )
    return dataset, no_image


class DocumentNotPlanned(Exception):
    """The document's plan could not be made (the message says why); it is a failed document."""


class CoalitionTask(ConfigurableTask):
    """Documents -> coalition requests -> coalition values; subclasses plan and evaluate."""

    LAYERWISE = False  # whether the task reads values at every layer (`layerwise: true`)

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = dict(config or {})
        config.pop("class", None)
        block = config.pop("pixelshap", None)
        # a non-empty process_results keeps lmms-eval from looking metric names up in its registry
        config["process_results"] = f"{type(self).__module__}.{type(self).__name__}.process_results"
        self.settings: AttributionConfig = load_config(config["task"], block, known_tasks=known_task_names())
        if self.settings.layerwise and not self.LAYERWISE:
            raise ValueError(f"pixelshap option layerwise=true needs a layer-wise task (pixelshap_*_layerwise), not {config['task']}")
        config["metadata"] = {**(config.get("metadata") or {}), "pixelshap": self.settings.as_dict()}
        self.request_style = "simple"  # set to "chat" by the plugin's TaskManager hook for chat models
        self._lock = threading.Lock()
        self._locations: dict[str, tuple[str, int]] = {}
        self._virtual_ids: dict[str, list[int]] = {}
        self._answer_requests: dict[tuple[str, int], Instance] = {}
        self._plans: dict[str, Coalitions] = {}
        self._plan_errors: dict[str, str] = {}
        self._players_cache: LRUCache[DocPlayers] = LRUCache(16)
        self._image_cache: LRUCache[Image.Image] = LRUCache(16)
        self._doc_cache: LRUCache[dict[str, Any]] = LRUCache(256)
        self._atoms_cache: LRUCache[tuple[PixelAtoms, np.ndarray, str]] = LRUCache(16)
        super().__init__(config=config, **kwargs)
        self.router = CoalitionRouter(self.config.task, self, self._doc)
        register_router(self.router)
        self.dataset[VIRTUAL_SPLIT] = self.router

    # --- data ---------------------------------------------------------------------------
    def download(self, dataset_kwargs: dict | None = None) -> None:
        """Load the built set at $PIXELSHAP_DATA_DIR/<set>, else the YAML's Hub id."""
        self.dataset, self.dataset_no_image = load_built_set(self, self.settings)

    def _doc(self, split: str, doc_id: int) -> dict[str, Any]:
        return self._doc_cache.get((split, doc_id), lambda: self.dataset_no_image[split][int(doc_id)])

    def image(self, split: str, doc_id: int) -> Image.Image:
        """The document's full image as the model sees it: RGB, and downscaled once to at most
        `max_image_side` pixels a side (the players are built on the same size)."""

        def load() -> Image.Image:
            return model_view(self.dataset[split][int(doc_id)]["image"], self.settings.max_image_side)

        return self._image_cache.get((split, doc_id), load)

    def players(self, split: str, doc_id: int) -> DocPlayers:
        def build() -> DocPlayers:
            image = self.image(split, doc_id) if self.settings.players == "sam" else None
            return doc_players(self._doc(split, doc_id), self.settings, image=image)

        return self._players_cache.get((split, doc_id), build)

    def location(self, key: str) -> tuple[str, int]:
        """(split, doc_id) of the document with question id `key`."""
        return self._locations[key]

    def _plan(self, key: str, n_players: int) -> Coalitions:
        """The document's plan. A document that cannot be planned (an exact estimator asked for
        too many players, a budget below the estimator's minimum) is one failed document, not a
        failed run: it gets the empty and full coalitions only, and `process_results` records
        the planning error and counts it as failed."""
        with self._lock:
            if key not in self._plans:
                try:
                    self._plans[key] = self.make_plan(key, n_players)
                except (ValueError, TypeError) as error:
                    eval_logger.warning(f"{self.config.task}: question {key} cannot be planned: {error}")
                    self._plan_errors[key] = f"{type(error).__name__}: {error}"
                    self._plans[key] = Coalitions(masks=np.array([[False] * n_players, [True] * n_players]), estimator=UNPLANNED)
            return self._plans[key]

    @abc.abstractmethod
    def make_plan(self, key: str, n_players: int) -> Coalitions:
        """The coalitions of one document, a pure function of its key and player count; row 0
        is the empty coalition and row 1 the full one."""

    # --- requests -----------------------------------------------------------------------
    def construct_requests(self, doc_id: int, ctx: str, **kwargs: Any) -> list[Instance]:
        metadata = kwargs["metadata"]
        split = metadata["split"]
        doc = self._doc(split, doc_id)
        key = doc_key(doc)
        players = self.players(split, doc_id)
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
        players = self.players(ref.split, ref.doc_id)
        plan = self._plan(doc_key(self._doc(ref.split, ref.doc_id)), len(players.regions))
        return self.settings.masker.mask(self.image(ref.split, ref.doc_id), players.regions, plan.masks[ref.row])

    def coalition_input(self, ref: CoalitionRef) -> CoalitionInput | None:
        """The coalition for a model that masks in its input space: the full image, its pixel
        atoms and the atoms the coalition hides (the same pixels `masked_image` fills). None
        for a sibling that renders its images its own way (it overrides `masked_image`), and
        for an image cut into more than `MAX_ATOMS` atoms (it is asked with masked images)."""
        if type(self).masked_image is not CoalitionTask.masked_image:
            return None
        image = self.image(ref.split, ref.doc_id)

        def build() -> tuple[PixelAtoms, np.ndarray, str]:
            players = self.players(ref.split, ref.doc_id)
            plan = self._plan(doc_key(self._doc(ref.split, ref.doc_id)), len(players.regions))
            atoms = pixel_atoms(image.size, players.regions, self.settings.masker)
            # the model caches its encodings by this key: the pixels and atoms themselves, so that
            # other settings of the same task (image size, players) never reuse a stale encoding
            digest = hashlib.blake2b(image.tobytes(), digest_size=16)
            for part in (atoms.labels, atoms.in_box, atoms.in_mask):
                digest.update(np.ascontiguousarray(part).tobytes())
            return atoms, atoms.hidden(plan.masks), digest.hexdigest()

        atoms, hidden, key = self._atoms_cache.get((ref.split, ref.doc_id), build)
        if len(atoms) > MAX_ATOMS:
            return None
        return CoalitionInput(document=(self.config.task, key), image=image, atoms=atoms, hidden_atoms=hidden[ref.row])

    def question(self, ref: CoalitionRef) -> str:
        return self.doc_to_text(self._doc(ref.split, ref.doc_id))

    def continuation(self, ref: CoalitionRef) -> str:
        """What a loglikelihood request scores: the reference answer, marked for the end token
        and the per-token mean when the value is the geometric-mean probability."""
        answer = self.reference_answer(ref)
        return answer + MEAN_WITH_END_TOKEN if self.settings.value == "geomean_prob" else answer

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
        return response_text(request.resps[0])

    # --- results ------------------------------------------------------------------------
    def process_results(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        key = doc_key(doc)
        split, doc_id = self._locations[key]
        players = self.players(split, doc_id)
        plan = self._plan(key, len(players.regions))
        self._check_routing(key)
        if self.settings.value == "geomean_prob":
            self._check_end_token_scoring(key)
        full_answer, values = self.read_values(key, results, len(plan))
        record: dict[str, Any] = {"question_id": key, "question": doc.get("question"), "full_answer": full_answer}
        reference = full_answer
        if self.settings.value != "similarity":
            reference = record["scored_answer"] = str(doc["answer"]) if self.settings.reference == "gold" else full_answer
        if not reference.strip() and key not in self._plan_errors:
            # an empty reference answer gives every coalition the same value (similarity: nothing to
            # compare with; log-probability: an empty continuation), so the metrics would be chance
            record["skipped"] = "the answer to explain is empty (the model gave no answer on the full image); nothing to attribute"
            return {**document_counts("skipped"), "pixelshap": record}
        try:
            if key in self._plan_errors:
                raise DocumentNotPlanned(self._plan_errors[key])
            found, details = self.evaluate(doc, players, plan, values)
        except Exception as error:  # one document's failure must not discard every other result of the run
            eval_logger.warning(f"{self.config.task}: question {key} could not be scored: {type(error).__name__}: {error}")
            record["error"] = f"{type(error).__name__}: {error}"
            record["coalition_values"] = np.asarray(values, dtype=float).tolist()
            return {**document_counts("failed"), "pixelshap": record}
        record.update(details)
        return {**found, **document_counts("scored"), "pixelshap": record}

    def read_values(self, key: str, results: list[Any], n_rows: int) -> tuple[str, np.ndarray]:
        """(the full-image answer, the values of the document's `n_rows` coalitions) from its responses."""
        return coalition_values(self.settings, self.config.task, results, n_rows)

    @abc.abstractmethod
    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        """(metrics, sample-log details) of one document from its coalition values."""

    def _check_end_token_scoring(self, key: str) -> None:
        """geomean_prob needs a model that scores the end token and returns the per-token mean
        (`pixelshap_hf`); any other model scores the marked text and returns a wrong number."""
        if self.router.render_count() == 0:
            return  # every response came from a cache
        unscored = self.router.end_token_unscored(self._virtual_ids.get(key, [])[1:])
        if unscored:
            raise RuntimeError(
                f"{self.config.task}: value=geomean_prob needs --model pixelshap_hf, which scores the answer's end "
                f"token and returns the per-token mean; this model answered {len(unscored)} log-probability requests "
                f"of question {key} without doing so. Use --model pixelshap_hf, or value=logprob with this model."
            )

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
