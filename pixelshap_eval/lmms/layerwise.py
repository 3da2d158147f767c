"""Layer-wise attribution tasks (the logit lens): one game per decoder layer from one model
call per coalition.

Each coalition's request returns the answer's first-token probability at every requested layer
(`layer_requests`; only `pixelshap_hf` answers them), so a document's values are a
(coalitions x layers) table. The estimator is solved once per layer on that layer's column.
The results get each layer's headline metric as `<metric>_layer_<NN>` (`recall_at_1_layer_07`)
and, when the model's last layer was read, the task's ordinary metrics at that layer (the
model's own output). The sample record is the ordinary record of the deepest layer read, plus
every layer's scores, rankings and metrics. A sibling of the attribution tasks: same plan,
its own requests' continuation and evaluation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from lmms_eval.api.metrics import mean

from pixelshap_eval.lmms.documents import DocPlayers, doc_key
from pixelshap_eval.lmms.layer_requests import LayerwiseTarget, check_layerwise_model
from pixelshap_eval.lmms.records import finite_or_null
from pixelshap_eval.lmms.responses import layer_coalition_values
from pixelshap_eval.lmms.scoring import tied_scores
from pixelshap_eval.lmms.task import AttributionTask, HumanAttributionTask, ObjectAttributionTask
from pixelshap_eval.metrics import higher_is_better, layer_metric_name, ranking, split_layer_metric
from pixelshap_eval.shapley import Coalitions

VALUE_FUNCTION = "first_token_prob"  # the value the sample records name


class LayerAggregations(dict):
    """The task's aggregations, plus the mean for every per-layer metric name (which exist only
    once the model has said how many layers it has)."""

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and split_layer_metric(name) is not None)

    def __missing__(self, name: str) -> Callable:
        if split_layer_metric(name) is None:
            raise KeyError(name)
        return mean


class LayerwiseTask(AttributionTask):
    """The estimator's attribution at every requested decoder layer; subclasses (with the
    object or human scoring) name the metrics reported per layer."""

    LAYERWISE = True
    LAYER_METRICS: tuple[str, ...] = ()

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._layers_read: dict[str, tuple[tuple[int, ...], int]] = {}
        self._layer_names: set[str] = set()
        self._layer_lock = threading.Lock()
        super().__init__(config=config, **kwargs)
        if not self.settings.layerwise:
            raise ValueError(f"{self.config.task} is a layer-wise task: it needs layerwise=true")

    def construct_requests(self, doc_id: int, ctx: str, **kwargs: Any) -> list:
        args = getattr(self, "args", None)  # lmms-eval's command-line arguments, set before requests are built
        check_layerwise_model(self.config.task, getattr(args, "model", None))
        return super().construct_requests(doc_id, ctx, **kwargs)

    def _arguments(self, request_type: str, ctx: str, virtual_id: int) -> tuple:
        arguments = super()._arguments(request_type, ctx, virtual_id)
        if request_type != "loglikelihood":
            return arguments
        return (arguments[0], LayerwiseTarget(self.config.task, self.settings.layers), *arguments[2:])

    def read_values(self, key: str, results: list[Any], n_rows: int) -> tuple[str, np.ndarray]:
        """The (coalitions x layers) values; which layers they are is kept for `evaluate`."""
        full_answer, read = layer_coalition_values(self.config.task, results, n_rows)
        with self._layer_lock:
            self._layers_read[key] = (read.layers, read.n_layers)
        return full_answer, read.values

    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        with self._layer_lock:
            layers, n_layers = self._layers_read.pop(doc_key(doc))
        deepest, details = super().evaluate(doc, players, plan, values[:, -1])
        details["value_function"] = VALUE_FUNCTION
        per_layer: dict[str, dict[str, float]] = {}
        scores, errors, rankings = [], [], []
        for column, layer in enumerate(layers):
            if column == len(layers) - 1:
                found, scored = deepest, np.asarray(details["values"])
                error = details["std_errors"]
                order = details["ranking"]
            else:
                attribution = self.estimator.solve(plan, values[:, column])
                found = self.score(doc, players, attribution, plan, values[:, column])
                scored, error = attribution.scores, finite_or_null(attribution.std_errors)
                order = ranking(tied_scores(attribution)).tolist()
            per_layer[str(layer)] = found
            scores.append(np.asarray(scored, dtype=float).tolist())
            errors.append(error)
            rankings.append(order)
        details.update(
            {
                "layer": layers[-1],
                "layers": list(layers),
                "n_layers": n_layers,
                "layer_values": scores,
                "layer_std_errors": errors,
                "layer_rankings": rankings,
                "layer_metrics": per_layer,
                "layer_coalition_values": values.T.tolist(),
            }
        )
        metrics = {
            layer_metric_name(name, int(layer)): value
            for layer, found in per_layer.items()
            for name, value in found.items()
            if name in self.LAYER_METRICS
        }
        with self._layer_lock:
            self._layer_names.update(metrics)
        if layers[-1] == n_layers:
            metrics.update(deepest)  # the model's own output: the task's ordinary metrics
        return metrics, details

    def aggregation(self) -> Mapping[str, Callable]:
        return LayerAggregations(super().aggregation())

    def higher_is_better(self) -> dict[str, bool]:
        with self._layer_lock:
            names = sorted(self._layer_names)
        return {**super().higher_is_better(), **{name: bool(higher_is_better(name)) for name in names}}


class ObjectLayerwiseTask(LayerwiseTask, ObjectAttributionTask):
    """Object players by layer: where the target ranks at each layer."""

    LAYER_METRICS = ("recall_at_1",)


class HumanLayerwiseTask(LayerwiseTask, HumanAttributionTask):
    """Grid players by layer: agreement with the people's patches at each layer."""

    LAYER_METRICS = ("hit_at_3",)
