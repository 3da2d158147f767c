"""The sample-log record of one attribution: strict JSON whatever the estimator gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixelshap_eval.lmms.documents import DocPlayers
from pixelshap_eval.lmms.records import attribution_record
from pixelshap_eval.players import regions_from_boxes
from pixelshap_eval.shapley import get_estimator


@pytest.mark.parametrize(("estimator", "budget"), [("pixelshap", None), ("kernel", 5)])
def test_missing_standard_errors_are_written_as_null(estimator, budget):
    regions = regions_from_boxes([(0, 0, 4, 4), (4, 0, 4, 4), (0, 4, 4, 4)], (8, 8))
    players = DocPlayers(regions=regions, target_index=0, target_region=regions[0])
    chosen = get_estimator(estimator)
    plan = chosen.plan(3, budget, 0)
    values = plan.masks @ np.array([0.5, 0.2, 0.1])
    attribution = chosen.solve(plan, values)
    assert np.isnan(attribution.std_errors).all()  # this budget gives no standard error
    record = attribution_record(players, attribution, values, "similarity")
    assert record["std_errors"] == [None, None, None]
    assert json.loads(json.dumps(record, allow_nan=False))["std_errors"] == [None, None, None]


def test_finite_standard_errors_are_kept():
    regions = regions_from_boxes([(0, 0, 4, 4), (4, 0, 4, 4)], (8, 8))
    players = DocPlayers(regions=regions, target_index=None, target_region=None)
    chosen = get_estimator("exact")
    plan = chosen.plan(2)
    values = plan.masks @ np.array([0.5, 0.2])
    record = attribution_record(players, chosen.solve(plan, values), values, "similarity")
    assert record["std_errors"] == [0.0, 0.0]
