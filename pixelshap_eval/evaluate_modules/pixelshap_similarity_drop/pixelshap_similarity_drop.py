"""Similarity drop of attributions: the pixelshap tasks' own similarity_drop."""

import datasets
import evaluate
import numpy as np

from pixelshap_eval.metrics import similarity_drop

_DESCRIPTION = "v(all regions) - v(all regions but the top-valued one), averaged over the regions tied for the top, then over documents. Large: hiding the chosen region changes the answer."
_KWARGS = """
predictions: one list of region values per document.
value_full: per document, the value of the unmasked image (v(N)).
loo_values: per document, loo_values[i] = value with region i hidden (leave-one-out).
Returns {"similarity_drop": mean over documents}.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PixelshapSimilarityDrop(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64"))}),
        )

    def _compute(self, predictions, value_full, loo_values):
        if not len(value_full) == len(loo_values) == len(predictions):
            raise ValueError(f"pixelshap_similarity_drop: got {len(predictions)} predictions, {len(value_full)} value_full and {len(loo_values)} loo_values")
        scores = [similarity_drop(full, loo, values) for values, full, loo in zip(predictions, value_full, loo_values)]
        return {"similarity_drop": float(np.nanmean(scores))}
