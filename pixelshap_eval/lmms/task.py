"""The attribution tasks: plan with an estimator, solve it on the coalition values, score the
attribution, and log it (sample record and heatmap). One subclass per kind of ground truth."""

from __future__ import annotations

import abc
from functools import cached_property
from typing import Any

import numpy as np

from pixelshap_eval.lmms.base import CoalitionTask
from pixelshap_eval.lmms.config import budget_for
from pixelshap_eval.lmms.documents import DocPlayers, doc_key, doc_seed
from pixelshap_eval.lmms.records import attribution_record, write_heatmap
from pixelshap_eval.lmms.scoring import grid_metrics, object_metrics
from pixelshap_eval.shapley import Attribution, Coalitions, Estimator, get_estimator


class AttributionTask(CoalitionTask):
    """Shapley-type attributions of the task's estimator; subclasses say how they are scored."""

    @cached_property
    def estimator(self) -> Estimator:
        return get_estimator(self.settings.estimator, **self.settings.estimator_options)

    def make_plan(self, key: str, n_players: int) -> Coalitions:
        """The estimator's plan, seeded by the task seed and the document's key."""
        budget = budget_for(self.settings.budget, n_players)
        return self.estimator.plan(n_players, budget, doc_seed(self.settings.seed, key))

    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        attribution = self.estimator.solve(plan, values)
        details = {**attribution_record(players, attribution, values, self.settings.value), **self.ground_truth(doc)}
        output_path = getattr(getattr(self, "args", None), "output_path", None)
        if self.settings.heatmaps and output_path:
            split, doc_id = self.location(doc_key(doc))
            details["heatmap"] = write_heatmap(output_path, self.config.task, doc_key(doc), self.image(split, doc_id), players, attribution)
        return self.score(doc, players, attribution, plan, values), details

    @abc.abstractmethod
    def score(self, doc: dict[str, Any], players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
        """Per-document metrics of a solved attribution."""

    def ground_truth(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What the sample record keeps of the document's ground truth beyond the target."""
        return {}


class ObjectAttributionTask(AttributionTask):
    """Object players; scored by where the question's target object ranks and where the map points."""

    def score(self, doc: dict[str, Any], players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
        return object_metrics(players, attribution, plan, values)


class HumanAttributionTask(AttributionTask):
    """Grid players; scored against the patches and importance map people (or a reference
    attention map) chose."""

    def score(self, doc: dict[str, Any], players: DocPlayers, attribution: Attribution, plan: Coalitions, values: np.ndarray) -> dict[str, float]:
        if players.frame is None:
            raise ValueError(f"{self.config.task} scores grid cells against human patches: set players: grid")
        return grid_metrics(doc, players.frame, attribution, plan, values)

    def ground_truth(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"human_patches": list(doc["human_patches"])}
