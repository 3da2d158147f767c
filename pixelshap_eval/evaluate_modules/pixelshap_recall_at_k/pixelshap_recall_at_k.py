"""Recall@K of attributions over image regions: the pixelshap tasks' own recall_at_k."""

import datasets
import evaluate
import numpy as np

from pixelshap_eval.metrics import recall_at_k

_DESCRIPTION = "Probability that the question's target region is among the K highest-valued regions (ties broken uniformly), averaged over documents."
_KWARGS = """
predictions: one list of region values (Shapley values) per document.
references: the index of the target region in each list.
k: the cut-off (default 1).
Returns {"recall_at_<k>": mean over documents}.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PixelshapRecallAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, k=1):
        scores = [recall_at_k(values, target, k) for values, target in zip(predictions, references)]
        return {f"recall_at_{k}": float(np.nanmean(scores))}
