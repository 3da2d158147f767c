"""How coalition values become Shapley estimates: one estimator per module, one registry.

Every estimator is a seeded `plan` and a pure `solve`; the conventions every plan shares (row
order, leave-one-out rows, what the budget counts) are written once, in `shapley.base`. Add an
estimator as one module here (its plan, solve and typed `Design`) and one entry in `ESTIMATORS`.

Estimators (`ESTIMATORS`, `get_estimator`):

| name | target | calls |
| --- | --- | --- |
| `exact` | Shapley, exact | 2^n (n <= 14) |
| `kernel` | Shapley (KernelSHAP, efficiency exact, paired sampling) | any budget >= n+2 |
| `permutation` | Shapley (antithetic permutation sampling) | >= 3n-2 |
| `loo` | leave-one-out v(N) - v(N minus i); first order, not Shapley | n+2 |
| `banzhaf` | Banzhaf, not Shapley (maximum-sample-reuse Monte Carlo) | any budget >= n+2 |
| `pixelshap` | PixelSHAP's published score (Banzhaf-type, normalised to sum 1) | any budget >= n+2 |
| `surrogate` | Patchwise: a neural surrogate of v read out as Banzhaf (published) or Shapley | any budget >= n+2 |
"""

from __future__ import annotations

from typing import Any

from pixelshap_eval.shapley.banzhaf import BanzhafDesign, MonteCarloBanzhaf
from pixelshap_eval.shapley.base import (
    MAX_EXACT_PLAYERS,
    SAMPLING_CALLS_PER_PLAYER,
    Attribution,
    Coalitions,
    Design,
    Estimator,
    Seed,
)
from pixelshap_eval.shapley.exact import ExactShapley
from pixelshap_eval.shapley.kernel import KernelDesign, KernelShap
from pixelshap_eval.shapley.loo import LeaveOneOut
from pixelshap_eval.shapley.permutation import PermutationDesign, PermutationShapley
from pixelshap_eval.shapley.pixelshap import PixelShapPublished
from pixelshap_eval.shapley.surrogate import SurrogateDesign, SurrogateShapley
from pixelshap_eval.shapley.tables import banzhaf_from_table, coalition_codes, shapley_from_table

ESTIMATORS: dict[str, type[Estimator]] = {
    cls.name: cls for cls in (ExactShapley, KernelShap, PermutationShapley, LeaveOneOut, MonteCarloBanzhaf, PixelShapPublished, SurrogateShapley)
}


def get_estimator(name: str, **kwargs: Any) -> Estimator:
    """The estimator registered under `name`, built with `kwargs`."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {sorted(ESTIMATORS)}")
    return ESTIMATORS[name](**kwargs)


__all__ = [
    "ESTIMATORS",
    "MAX_EXACT_PLAYERS",
    "SAMPLING_CALLS_PER_PLAYER",
    "Attribution",
    "BanzhafDesign",
    "Coalitions",
    "Design",
    "Estimator",
    "ExactShapley",
    "KernelDesign",
    "KernelShap",
    "LeaveOneOut",
    "MonteCarloBanzhaf",
    "PermutationDesign",
    "PermutationShapley",
    "PixelShapPublished",
    "Seed",
    "SurrogateDesign",
    "SurrogateShapley",
    "banzhaf_from_table",
    "coalition_codes",
    "get_estimator",
    "shapley_from_table",
]
