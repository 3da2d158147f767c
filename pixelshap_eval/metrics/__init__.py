"""Metrics of one attribution, grouped by the property they measure (as in Quantus).

- `localisation`: target retrieval and the pointing game;
- `faithfulness`: similarity drop, deletion / insertion curves and their AUC;
- `plausibility`: agreement with human patches and importance maps;
- `road`: ROAD curves at pixel level (MoRF / LeRF of imputed images);
- `randomisation`: model-free reference rankings (random, priors);
- `directions`: metric name -> whether higher is better.

Every metric takes per-player `scores` (an attribution's estimates or a baseline's), higher =
more important, and returns its expectation over random tie-breaking (see `scores`).
"""

from pixelshap_eval.metrics.directions import HIGHER_IS_BETTER, higher_is_better, layer_metric_name, split_layer_metric
from pixelshap_eval.metrics.faithfulness import (
    curve_auc,
    deletion_auc,
    deletion_coalitions,
    insertion_auc,
    insertion_coalitions,
    similarity_drop,
)
from pixelshap_eval.metrics.localisation import attribution_map, iou_at_1, pointing_game, ranking, recall_at_k
from pixelshap_eval.metrics.plausibility import human_patch_scores, map_plausibility
from pixelshap_eval.metrics.randomisation import (
    center_prior_scores,
    central_object_scores,
    largest_object_scores,
    random_scores,
)
from pixelshap_eval.metrics.road import pixel_order, ranking_pixel_map, removed_pixels, road_auc, road_fractions

__all__ = [
    "HIGHER_IS_BETTER",
    "attribution_map",
    "center_prior_scores",
    "central_object_scores",
    "curve_auc",
    "deletion_auc",
    "deletion_coalitions",
    "higher_is_better",
    "human_patch_scores",
    "insertion_auc",
    "insertion_coalitions",
    "iou_at_1",
    "largest_object_scores",
    "layer_metric_name",
    "map_plausibility",
    "pixel_order",
    "pointing_game",
    "random_scores",
    "ranking",
    "ranking_pixel_map",
    "recall_at_k",
    "removed_pixels",
    "road_auc",
    "road_fractions",
    "similarity_drop",
    "split_layer_metric",
]
