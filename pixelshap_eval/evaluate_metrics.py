"""The pixelshap metrics as Hugging Face `evaluate` modules shipped inside the package.

Each module is a folder of `pixelshap_eval/evaluate_modules` holding its script (named like the
folder, as `evaluate.load` requires) and its card; the scripts call `pixelshap_eval.metrics`, the
code the tasks score with. Loading works offline (HF_EVALUATE_OFFLINE=1):

    evaluate.load(module_path("pixelshap_recall_at_k"))
"""

from __future__ import annotations

from importlib import resources

MODULES = ("pixelshap_recall_at_k", "pixelshap_iou_at_1", "pixelshap_similarity_drop", "pixelshap_curve_auc", "pixelshap_human_patches")


def module_path(name: str) -> str:
    """The folder `evaluate.load` takes for the module `name`."""
    if name not in MODULES:
        raise ValueError(f"no pixelshap evaluate module {name!r}; the modules are {list(MODULES)}")
    return str(resources.files("pixelshap_eval") / "evaluate_modules" / name)
