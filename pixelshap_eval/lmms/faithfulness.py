"""Faithfulness follow-up tasks: deletion and insertion curves of an earlier run's rankings.

The curves' coalitions depend on the ranking, which is known only after the attribution run's
model calls, while lmms-eval builds every request before the model runs. So faithfulness is a
second run: it reads the rankings from the first run's samples file
(`PIXELSHAP_CONFIG="rankings=<..._samples_<task>.jsonl>"`), keeps the documents that have one,
and asks the model about N, N minus the top player, ..., the empty image (deletion) and the
reverse (insertion). Plans that already cover the curves (exact Shapley, small games) get these
metrics in the first run without this task. A sibling of the attribution tasks: same
requests, its own plan and evaluation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict

from pixelshap_eval.lmms.base import CoalitionTask
from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.lmms.scoring import curve_metrics, defined_metrics
from pixelshap_eval.metrics import deletion_coalitions, insertion_coalitions
from pixelshap_eval.shapley import Coalitions, Design

ESTIMATOR_NAME = "faithfulness-curves"


@dataclass(frozen=True, eq=False)
class CurveDesign(Design):
    """The ranking whose deletion and insertion curves the plan holds."""

    order: np.ndarray


class FaithfulnessTask(CoalitionTask):
    """Deletion/insertion AUC of rankings computed by an earlier attribution run."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self._rankings: dict[str, list[int]] = {}
        super().__init__(config=config, **kwargs)

    def download(self, dataset_kwargs: dict | None = None) -> None:
        if not self.settings.rankings:
            raise ValueError(
                f"{self._config.task} needs the rankings of an attribution run: set "
                "PIXELSHAP_CONFIG='rankings=<output_path>/<model>/<date>_samples_<task>.jsonl' "
                "(written by that run with --log_samples)"
            )
        self._rankings = load_rankings(self.settings.rankings)
        super().download(dataset_kwargs)
        self.dataset = _ranked_only(self.dataset, self._rankings)
        self.dataset_no_image = _ranked_only(self.dataset_no_image, self._rankings)
        if not any(len(data) for data in self.dataset.values()):
            raise ValueError(
                f"none of the {len(self._rankings)} ranked question ids in {self.settings.rankings} is in the "
                f"{self.settings.dataset!r} dataset"
            )

    def make_plan(self, key: str, n_players: int) -> Coalitions:
        order = np.asarray(self._rankings[key])
        if sorted(order.tolist()) != list(range(n_players)):
            raise ValueError(
                f"the ranking of {key} in {self.settings.rankings} covers {len(order)} players but this task builds "
                f"{n_players}: run the faithfulness task with the same players settings as the attribution run"
            )
        full, empty = np.ones(n_players, dtype=bool), np.zeros(n_players, dtype=bool)
        rows = [empty, full, *deletion_coalitions(order), *insertion_coalitions(order)]
        unique = list({mask.tobytes(): mask for mask in rows}.values())
        return Coalitions(masks=np.array(unique, dtype=bool), estimator=ESTIMATOR_NAME, design=CurveDesign(order))

    def evaluate(self, doc: dict[str, Any], players: DocPlayers, plan: Coalitions, values: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        """The curves' AUCs (no attribution is solved here: the ranking is given)."""
        if not isinstance(plan.design, CurveDesign):
            raise TypeError(f"{self.config.task}: a faithfulness plan carries a CurveDesign, got {type(plan.design).__name__}")
        order = plan.design.order
        details = {
            "ranking": order.tolist(),
            "coalition_values": values.tolist(),
            "n_calls": len(plan),
            "estimator": ESTIMATOR_NAME,
        }
        return defined_metrics(curve_metrics(order, plan.index_of, values)), details


def _ranked_only(dataset: DatasetDict, rankings: dict[str, list[int]]) -> DatasetDict:
    return DatasetDict({split: data.filter(lambda row: str(row["question_id"]) in rankings) for split, data in dataset.items()})


def load_rankings(path: str | Path) -> dict[str, list[int]]:
    """question id -> ranking (player indices, most important first) from a samples JSONL."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"rankings file {source} does not exist: pass the samples JSONL of the attribution run")
    rankings: dict[str, list[int]] = {}
    with source.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)["pixelshap"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{source}:{number} is not a pixelshap sample row ({error})") from error
            if "ranking" in record:
                rankings[str(record["question_id"])] = [int(i) for i in record["ranking"]]
    if not rankings:
        raise ValueError(f"{source} holds no rankings (were its documents all skipped?)")
    return rankings
