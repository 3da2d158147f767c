"""hit@3, precision@3 and NDCG@3 against human patches: the pixelshap human tasks' own scores."""

import datasets
import evaluate
import numpy as np

from pixelshap_eval.metrics import human_patch_scores

_DESCRIPTION = "Agreement of an attribution over the 12x12 grid with the patches people chose: hit@k, precision@k, NDCG@k (k = 3)."
_KWARGS = """
predictions: per document, the values of the grid cells (row-major).
references: per document, the human patches: 1-based cell indices, most important first, 0 = none given.
k: the cut-off (default 3).
Returns {"hit_at_<k>", "precision_at_<k>", "ndcg_at_<k>": means over documents}.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PixelshapHumanPatches(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Sequence(datasets.Value("int64"))}),
        )

    def _compute(self, predictions, references, k=3):
        rows = [human_patch_scores(values, patches, k=k) for values, patches in zip(predictions, references)]
        return {name: float(np.nanmean([row[name] for row in rows])) for name in rows[0]}
