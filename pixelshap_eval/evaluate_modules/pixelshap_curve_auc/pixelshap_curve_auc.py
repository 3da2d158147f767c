"""Deletion and insertion AUC: the pixelshap tasks' own deletion_auc / insertion_auc."""

import datasets
import evaluate
import numpy as np

from pixelshap_eval.metrics import curve_auc

_DESCRIPTION = "Normalised area under the deletion curve (regions hidden in attribution order, lower = more faithful) or the insertion curve (regions shown in that order, higher = more faithful)."
_KWARGS = """
predictions: per document, the curve: the value of the image after hiding (deletion) or showing (insertion)
    the top 0, 1, ..., n regions of the attribution's order. A deletion curve starts at the full image and
    ends at the empty one, an insertion curve the other way round.
kind: "deletion" (default) or "insertion".
Returns {"deletion_auc" or "insertion_auc": mean over documents}.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PixelshapCurveAuc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64"))}),
        )

    def _compute(self, predictions, kind="deletion"):
        if kind not in ("deletion", "insertion"):
            raise ValueError(f"pixelshap_curve_auc: kind must be 'deletion' or 'insertion', got {kind!r}")
        scores = []
        for curve in predictions:
            full, empty = (curve[0], curve[-1]) if kind == "deletion" else (curve[-1], curve[0])
            scores.append(curve_auc(curve, full, empty))
        return {f"{kind}_auc": float(np.nanmean(scores))}
