"""ROAD follow-up tasks: MoRF and LeRF curves of an earlier run's rankings at pixel level.

Like the faithfulness follow-ups, a second run reads the rankings of an attribution run
(`PIXELSHAP_CONFIG="rankings=<..._samples_<task>.jsonl>"`) and keeps the documents that have
one. A ranking becomes a per-pixel order (`metrics.road`: the pixels of the best-ranked player
first, each player's pixels in a seeded random order, pixels of no player last); each curve
point removes a fraction of the pixels, most relevant first (MoRF) or least relevant first
(LeRF), and the model is asked about the image with them filled by noisy linear imputation
(`pixelshap_eval.road`). `road_ranking: random` scores a seeded random ranking of the same
players instead: the baseline a ranking must beat.

ROAD steps are pixel sets, not coalitions of players: the plan's `RoadDesign` lists the step
(direction, fraction removed) of every row, and the task renders a row's image by imputing
that step; its masks say which players a step leaves untouched. Row 0 is 100% removed (the
fully imputed image, shared by both curves), row 1 the full image, then the inner MoRF and
LeRF points: 2 * road_points - 2 requests per document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import DatasetDict
from PIL import Image

from pixelshap_eval.lmms.cache import LRUCache
from pixelshap_eval.lmms.documents import DocPlayers, doc_key, doc_seed
from pixelshap_eval.lmms.faithfulness import FaithfulnessTask
from pixelshap_eval.lmms.routing import CoalitionRef
from pixelshap_eval.lmms.scoring import defined_metrics
from pixelshap_eval.metrics.road import (
    LERF,
    MORF,
    pixel_order,
    ranking_pixel_map,
    removed_pixels,
    road_auc,
    road_fractions,
)
from pixelshap_eval.road import impute
from pixelshap_eval.shapley import Coalitions, Design

ESTIMATOR_NAME = "road-curves"


@dataclass(frozen=True)
class RoadStep:
    """One ROAD request: remove `fraction` of the pixels, most (MoRF) or least (LeRF) relevant first."""

    direction: str
    fraction: float


@dataclass(frozen=True, eq=False)
class RoadDesign(Design):
    """The player ranking the curves follow and the step of every plan row."""

    order: np.ndarray
    steps: tuple[RoadStep, ...]


def road_steps(points: int) -> tuple[RoadStep, ...]:
    """Row 0: all removed; row 1: none; then the inner MoRF points and the inner LeRF points."""
    inner = road_fractions(points)[1:-1]
    return (
        RoadStep(MORF, 1.0),
        RoadStep(MORF, 0.0),
        *(RoadStep(MORF, float(f)) for f in inner),
        *(RoadStep(LERF, float(f)) for f in inner),
    )


def curves(steps: tuple[RoadStep, ...], values: np.ndarray) -> dict[str, np.ndarray]:
    """direction -> its value curve from 0% to 100% removed (rows 1 and 0 at the ends)."""
    found = {}
    for direction in (MORF, LERF):
        inner = [values[row] for row, step in enumerate(steps[2:], start=2) if step.direction == direction]
        found[direction] = np.array([values[1], *inner, values[0]], dtype=float)
    return found


class RoadTask(FaithfulnessTask):
    """MoRF / LeRF AUC of ROAD (noisy linear imputation) for rankings of an earlier run."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._keys: dict[str, tuple[str, int]] = {}
        self._orders: LRUCache[np.ndarray] = LRUCache(8)
        self._imputed: LRUCache[Image.Image] = LRUCache(128)
        super().__init__(config=config, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        super().download(dataset_kwargs)
        self._keys = _locations(self.dataset_no_image)

    def ranking_of(self, key: str, n_players: int) -> np.ndarray:
        """The ranking the curves follow: the rankings file's, or a seeded random one."""
        if self.settings.road_ranking == "random":
            return np.random.default_rng(doc_seed(self.settings.seed, key)).permutation(n_players)
        order = np.asarray(self._rankings[key])
        if sorted(order.tolist()) != list(range(n_players)):
            raise ValueError(
                f"the ranking of {key} in {self.settings.rankings} covers {len(order)} players but this task builds "
                f"{n_players}: run the ROAD task with the same players settings as the attribution run"
            )
        return order

    def pixel_order(self, key: str, order: np.ndarray) -> np.ndarray:
        """Flat pixel indices of the document, most relevant first (cached per document)."""

        def build() -> np.ndarray:
            players = self.players(*self._keys[key])
            importance = ranking_pixel_map(order, [region.mask for region in players.regions])
            return pixel_order(importance, doc_seed(self.settings.seed, key))

        return self._orders.get((key, order.tobytes()), build)

    def make_plan(self, key: str, n_players: int) -> Coalitions:
        order = self.ranking_of(key, n_players)
        steps = road_steps(self.settings.road_points)
        players = self.players(*self._keys[key])
        pixels = self.pixel_order(key, order)
        masks = _untouched_players(pixels, [region.mask for region in players.regions], steps)
        return Coalitions(masks=masks, estimator=ESTIMATOR_NAME, design=RoadDesign(order, steps))

    def masked_image(self, ref: CoalitionRef) -> Image.Image:
        """The image of a ROAD step: its removed pixels filled by noisy linear imputation."""
        key = doc_key(self._doc(ref.split, ref.doc_id))
        image = self.image(ref.split, ref.doc_id)
        players = self.players(ref.split, ref.doc_id)
        design = self._plan(key, len(players.regions)).design
        if not isinstance(design, RoadDesign):
            return super().masked_image(ref)  # a document that could not be planned
        step = design.steps[ref.row]
        if step.fraction == 0.0:
            return image

        def build() -> Image.Image:
            pixels = np.asarray(image)
            removed = removed_pixels(self.pixel_order(key, design.order), pixels.shape[:2], step.fraction, step.direction)
            seed = doc_seed(self.settings.seed + ref.row, key)
            return Image.fromarray(impute(pixels, removed, noise=self.settings.road_noise, seed=seed))

        return self._imputed.get((key, ref.row, design.order.tobytes()), build)

    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        """The AUC of both curves (no attribution is solved here: the ranking is given)."""
        if not isinstance(plan.design, RoadDesign):
            raise TypeError(f"{self.config.task}: a ROAD plan carries a RoadDesign, got {type(plan.design).__name__}")
        found = curves(plan.design.steps, np.asarray(values, dtype=float))
        details = {
            "ranking": plan.design.order.tolist(),
            "road_ranking": self.settings.road_ranking,
            "road_fractions": road_fractions(self.settings.road_points).tolist(),
            "morf_curve": found[MORF].tolist(),
            "lerf_curve": found[LERF].tolist(),
            "coalition_values": np.asarray(values, dtype=float).tolist(),
            "n_calls": len(plan),
            "estimator": ESTIMATOR_NAME,
        }
        metrics = {"road_morf_auc": road_auc(found[MORF]), "road_lerf_auc": road_auc(found[LERF])}
        return defined_metrics(metrics), details


def _locations(dataset: DatasetDict) -> dict[str, tuple[str, int]]:
    """question id -> (split, doc id) of every document."""
    return {str(key): (split, doc_id) for split, data in dataset.items() for doc_id, key in enumerate(data["question_id"])}


def _untouched_players(pixels: np.ndarray, masks: list[np.ndarray], steps: tuple[RoadStep, ...]) -> np.ndarray:
    """(rows, players) bool: the players none of whose pixels a step removes."""
    total = pixels.size
    position = np.empty(total, dtype=np.int64)
    position[pixels] = np.arange(total)
    first = np.array([position[mask.ravel()].min() if mask.any() else total for mask in masks])
    last = np.array([position[mask.ravel()].max() if mask.any() else -1 for mask in masks])
    rows = []
    for step in steps:
        count = int(round(step.fraction * total))
        rows.append(first >= count if step.direction == MORF else last < total - count)
    return np.array(rows, dtype=bool).reshape(len(steps), len(masks))
