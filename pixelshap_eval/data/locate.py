"""Where the pixelshap tasks find their datasets.

A set built locally lives at `$PIXELSHAP_DATA_DIR/<set>` (written by `pixelshap-eval build
<set> ... --out $PIXELSHAP_DATA_DIR/<set>`) and wins; otherwise the set is loaded from its
Hugging Face Hub id. When neither works, one `DatasetUnavailableError` names the command to run.
"""

from __future__ import annotations

import os
from pathlib import Path

from datasets import DatasetDict, load_dataset, load_from_disk

DATA_DIR_ENV = "PIXELSHAP_DATA_DIR"

# Default Hub ids of the published sets (documented names, not yet published).
DEFAULT_HUB_IDS: dict[str, str] = {
    "coco": "pixelshap-eval/coco-object-importance",
    "human": "pixelshap-eval/patchwise-human-attention",
    "synth": "pixelshap-eval/synthetic-scenes",
    "photos": "pixelshap-eval/demo-photos",
    "attention": "pixelshap-eval/attention-maps",
}

# The arguments each set's build command needs besides --out.
BUILD_ARGUMENTS: dict[str, str] = {
    "coco": "--annotations annotations/instances_val2017.json --images val2017",
    "human": "--annotations Human_Annotations.txt --images images",
    "synth": "--n 100",
    "photos": "",
    "attention": "--manifest manifest.jsonl",
}


class DatasetUnavailableError(FileNotFoundError):
    """A pixelshap set is neither built locally nor loadable from the Hub."""


def dataset_dir(set_name: str) -> Path | None:
    """`$PIXELSHAP_DATA_DIR/<set_name>` when the variable is set and that folder exists."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        return None
    folder = Path(root) / set_name
    return folder if folder.is_dir() else None


def build_command(set_name: str) -> str:
    """The command that builds `set_name` where `dataset_dir` looks for it."""
    arguments = BUILD_ARGUMENTS.get(set_name, "...")
    out = f"--out ${DATA_DIR_ENV}/{set_name}"
    return " ".join(part for part in ("pixelshap-eval build", set_name, arguments, out) if part)


def load_pixelshap_dataset(set_name: str, hub_id: str | None = None) -> DatasetDict:
    """The built set at `$PIXELSHAP_DATA_DIR/<set_name>`, else `load_dataset(hub_id)`."""
    folder = dataset_dir(set_name)
    if folder is not None:
        try:
            return load_from_disk(str(folder))
        except FileNotFoundError as error:
            raise DatasetUnavailableError(
                f"{folder} exists but does not hold a saved dataset ({error}). Rebuild it with:\n"
                f"  {build_command(set_name)} --overwrite"
            ) from error
    tried = (
        f"${DATA_DIR_ENV} is not set"
        if not os.environ.get(DATA_DIR_ENV)
        else f"{Path(os.environ[DATA_DIR_ENV]) / set_name} does not exist"
    )
    if hub_id:
        try:
            return load_dataset(hub_id)
        except OSError as error:  # offline (ConnectionError), unpublished (DatasetNotFoundError), HTTP errors
            tried += f", and the Hub dataset {hub_id!r} could not be loaded ({type(error).__name__}: {error})"
    raise DatasetUnavailableError(
        f"The pixelshap {set_name!r} dataset is not available: {tried}. Build it and point {DATA_DIR_ENV} at "
        f"its parent folder:\n  export {DATA_DIR_ENV}=/path/to/pixelshap-data\n  {build_command(set_name)}"
    )
