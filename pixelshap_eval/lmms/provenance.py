"""What a task copies into its results so that runs can be compared: the dataset's content
fingerprint and the versions of the packages that produced the numbers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from datasets import DatasetDict

from pixelshap_eval.data.fingerprint import dataset_fingerprint

PROVENANCE_KEY = "pixelshap_provenance"  # key in the task's results metadata
VERSIONED_PACKAGES = ("pixelshap-eval", "lmms-eval")


def package_versions() -> dict[str, str]:
    """Installed version of each package whose code decides the scores."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(dataset: DatasetDict, folder: Path | None) -> dict[str, Any]:
    return {"dataset_fingerprint": dataset_fingerprint(dataset, folder), "versions": package_versions()}
