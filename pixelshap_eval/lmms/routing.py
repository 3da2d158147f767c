"""How each coalition request reaches the model with its own masked image.

lmms-eval models fetch a request's visual as `visual_fn(task_dict[task][split][doc_id])`, and
many bundled wrappers apply the FIRST request's `visual_fn` to every doc of a batch. So the
coalition is carried by the *document*, not by the callable: each coalition request gets a
virtual doc id in an extra split of the task's dataset (`CoalitionRouter`), whose rows are the real
doc plus the coalition it stands for. Every request uses the same module-level callables, which
read the coalition from the doc they are given; whichever request's callable a wrapper uses,
every image is right. Wrappers that reuse one doc *id* for a whole batch are caught by counting
which coalitions were actually rendered (`CoalitionRouter.unrendered`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from PIL import Image

from pixelshap_eval.input_space import CoalitionInput

VIRTUAL_SPLIT = "pixelshap_coalitions"
COALITION_KEY = "__pixelshap_coalition__"
# ends a loglikelihood continuation to ask `pixelshap_hf` for the mean log-probability of the
# text's tokens and the model's end token (value geomean_prob); it makes such requests differ
# from summed-log-probability ones for every cache, and `pixelshap_hf` notes each one it honours
# (`CoalitionRouter.note_end_token_scored`) so that another model's answer is caught
MEAN_WITH_END_TOKEN = "<|pixelshap:mean-with-end-token|>"


@dataclass(frozen=True)
class CoalitionRef:
    """One coalition request: the real doc it belongs to and the coalition's row in its plan."""

    split: str
    doc_id: int
    row: int


class Renderer(Protocol):
    """What the task provides to turn a coalition reference into model inputs."""

    def masked_image(self, ref: CoalitionRef) -> Image.Image: ...

    def coalition_input(self, ref: CoalitionRef) -> CoalitionInput | None: ...

    def question(self, ref: CoalitionRef) -> str: ...

    def continuation(self, ref: CoalitionRef) -> str: ...


class CoalitionRouter:
    """Routes each coalition request to its masked image: a dataset split of virtual docs,
    indexable like a `datasets.Dataset` by integer id, that renders the coalition a doc stands for."""

    def __init__(self, task_name: str, renderer: Renderer, real_doc: Callable[[str, int], dict]) -> None:
        self.task_name = task_name
        self.renderer = renderer
        self._real_doc = real_doc
        self._refs: list[CoalitionRef] = []
        self._rendered: Counter[int] = Counter()
        self._end_token_scored: set[int] = set()
        self._lock = threading.Lock()

    def add(self, ref: CoalitionRef) -> int:
        """Register a coalition request; returns its virtual doc id."""
        with self._lock:
            self._refs.append(ref)
            return len(self._refs) - 1

    def __len__(self) -> int:
        return len(self._refs)

    def __getitem__(self, virtual_id: int) -> dict[str, Any]:
        ref = self.ref(virtual_id)
        return {**self._real_doc(ref.split, ref.doc_id), COALITION_KEY: int(virtual_id)}

    def ref(self, virtual_id: int) -> CoalitionRef:
        try:
            return self._refs[int(virtual_id)]
        except (IndexError, ValueError, TypeError):
            raise KeyError(f"{self.task_name}: no coalition request with virtual id {virtual_id!r}") from None

    def render(self, doc: dict[str, Any]) -> tuple[CoalitionRef, Image.Image]:
        """The masked image of the coalition a virtual doc stands for (counted)."""
        virtual_id = _virtual_id(doc, self.task_name)
        ref = self.ref(virtual_id)
        image = self.renderer.masked_image(ref)
        with self._lock:
            self._rendered[virtual_id] += 1
        return ref, image

    def render_input(self, virtual_id: int) -> CoalitionInput | None:
        """The coalition a virtual doc id stands for, for a model that masks in its input space
        (counted as rendered); None when the task renders its images otherwise (the model then
        asks for the masked image)."""
        coalition = self.renderer.coalition_input(self.ref(virtual_id))
        if coalition is not None:
            with self._lock:
                self._rendered[int(virtual_id)] += 1
        return coalition

    def render_count(self) -> int:
        return sum(self._rendered.values())

    def unrendered(self, virtual_ids: list[int]) -> list[int]:
        """Those of `virtual_ids` whose image the model never asked for."""
        return [v for v in virtual_ids if self._rendered[v] == 0]

    def note_end_token_scored(self, virtual_id: int) -> None:
        """The model scored this request's `MEAN_WITH_END_TOKEN` continuation as asked."""
        with self._lock:
            self._end_token_scored.add(int(virtual_id))

    def end_token_unscored(self, virtual_ids: list[int]) -> list[int]:
        """Those of `virtual_ids` rendered in this process but not scored as `MEAN_WITH_END_TOKEN` asks."""
        return [v for v in virtual_ids if self._rendered[v] and v not in self._end_token_scored]


_ROUTERS: dict[str, CoalitionRouter] = {}


def register_router(router: CoalitionRouter) -> None:
    _ROUTERS[router.task_name] = router


def router_for(task_name: str) -> CoalitionRouter:
    try:
        return _ROUTERS[task_name]
    except KeyError:
        raise RuntimeError(f"pixelshap task {task_name!r} has no coalition router in this process") from None


def coalition_visual(task_name: str, doc: dict[str, Any]) -> list[Image.Image]:
    """`doc_to_visual` of simple models: the masked image of the doc's coalition."""
    return [router_for(task_name).render(doc)[1]]


def coalition_messages(task_name: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """`doc_to_messages` of chat models: one user turn with the masked image and the question."""
    router = router_for(task_name)
    ref, image = router.render(doc)
    content = [{"type": "image", "url": image}, {"type": "text", "text": router.renderer.question(ref)}]
    return [{"role": "user", "content": content}]


def coalition_continuation(task_name: str, doc: dict[str, Any]) -> str:
    """`doc_to_target` of loglikelihood requests, evaluated at model time: the answer to score."""
    router = router_for(task_name)
    return router.renderer.continuation(router.ref(_virtual_id(doc, task_name)))


def split_end_token_marker(continuation: str) -> tuple[str, bool]:
    """(the text to score, whether `MEAN_WITH_END_TOKEN` asked for the end token and the mean)."""
    if continuation.endswith(MEAN_WITH_END_TOKEN):
        return continuation[: -len(MEAN_WITH_END_TOKEN)], True
    return continuation, False


def request_callables(task_name: str) -> tuple[Callable, Callable, Callable]:
    """(visual, messages, continuation) callables for the requests of `task_name` (picklable)."""
    return (
        partial(coalition_visual, task_name),
        partial(coalition_messages, task_name),
        partial(coalition_continuation, task_name),
    )


def _virtual_id(doc: dict[str, Any], task_name: str) -> int:
    if not isinstance(doc, dict) or COALITION_KEY not in doc:
        raise RuntimeError(
            f"{task_name}: a coalition visual was asked for a document that is not a coalition request; "
            f"the model wrapper must look documents up as task_dict[task][split][doc_id] with each request's own "
            f"split and doc_id"
        )
    return int(doc[COALITION_KEY])
