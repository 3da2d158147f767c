"""IoU@1 of attributions over regions: the pixelshap tasks' own iou_at_1 and box_iou_at_1."""

import datasets
import evaluate
import numpy as np

from pixelshap_eval.metrics import iou_at_1
from pixelshap_eval.players import Region

_DESCRIPTION = "Intersection over union of the top-valued region with the target region (masks, and boxes), averaged over the regions tied for the top, then over documents."
_KWARGS = """
predictions: one list of region values per document.
references: the index of the target region in each list.
boxes: per document, the regions' boxes as [x, y, width, height] in pixels, in the order of the values.
image_sizes: per document, [width, height] of the image.
masks (optional): per document, one boolean (height, width) array per region; with them the mask IoU is reported too.
Returns {"box_iou_at_1": mean over documents} and, with masks, {"iou_at_1": ...}.
"""


def _regions(boxes, size, masks=None):
    width, height = int(size[0]), int(size[1])
    regions = []
    for i, (x, y, w, h) in enumerate(boxes):
        if masks is not None:
            mask = np.asarray(masks[i], dtype=bool)
        else:
            mask = np.zeros((height, width), dtype=bool)
            mask[int(round(y)) : int(round(y + h)), int(round(x)) : int(round(x + w))] = True
        regions.append(Region(label=str(i), mask=mask, box=(float(x), float(y), float(w), float(h)), id=i))
    return regions


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class PixelshapIouAt1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, boxes, image_sizes, masks=None):
        if not len(boxes) == len(image_sizes) == len(predictions) or (masks is not None and len(masks) != len(predictions)):
            raise ValueError(f"pixelshap_iou_at_1: got {len(predictions)} predictions, {len(boxes)} box lists, {len(image_sizes)} image sizes and {len(masks or [])} mask lists")
        per_doc = masks if masks is not None else [None] * len(predictions)
        scores = [iou_at_1(values, _regions(b, size, m), target) for values, target, b, size, m in zip(predictions, references, boxes, image_sizes, per_doc)]
        result = {"box_iou_at_1": float(np.nanmean([box for _, box in scores]))}
        if masks is not None:
            result["iou_at_1"] = float(np.nanmean([mask for mask, _ in scores]))
        return result
