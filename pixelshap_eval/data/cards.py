"""Dataset cards: the README.md that travels with every built set, and the `BuiltSet` that
carries a set and its card to disk or to the Hugging Face Hub.

A card states where the data came from, under which licences, how rows were selected and
how many there are, so that a built folder can be published as it is.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from datasets import Array2D, DatasetDict, Features, Image, List, Value
from huggingface_hub import DatasetCard

from pixelshap_eval.data.fingerprint import write_fingerprint

EVALUATION_SPLIT = "test"  # every built set has this one split (lmms-eval tasks read `test_split: test`)
MAX_SHARD_SIZE = "64MB"  # saved and uploaded in shards of at most this size, so no step holds a whole set

Stats = dict[str, Any]  # counts by name, or by name and category


@dataclass
class BuiltSet:
    """A built dataset, its card text, and the counts the card reports."""

    name: str
    dataset: DatasetDict
    card: str
    stats: Stats = field(default_factory=dict)

    def save(self, out: Path, overwrite: bool = False) -> Path:
        """Write the set with `save_to_disk` plus its README.md into `out`.

        A non-empty `out` is replaced only with `overwrite`, and only when it holds a saved
        DatasetDict, so a mistyped path never deletes unrelated files.
        """
        out = Path(out)
        if check_output_folder(out, overwrite):
            shutil.rmtree(out)
        self.dataset.save_to_disk(str(out), max_shard_size=MAX_SHARD_SIZE)
        (out / "README.md").write_text(self.card, encoding="utf-8")
        write_fingerprint(self.dataset, out)
        return out

    def push_to_hub(self, repo_id: str) -> None:
        """Upload the set and then its card (which replaces the card `datasets` writes)."""
        self.dataset.push_to_hub(repo_id, max_shard_size=MAX_SHARD_SIZE)
        DatasetCard(self.card).push_to_hub(repo_id)


def check_output_folder(out: Path, overwrite: bool) -> bool:
    """Whether `out` holds a built set that `overwrite` allows replacing; FileExistsError when
    it is not empty and may not be replaced. Call it before a long build to fail early."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file: --out must be a folder")
    if not out.exists() or not any(out.iterdir()):
        return False
    if not overwrite:
        raise FileExistsError(f"{out} is not empty: choose an empty or new folder, or pass --overwrite")
    if not (out / "dataset_dict.json").is_file():
        raise FileExistsError(f"refusing to overwrite {out}: it does not hold a saved dataset (no dataset_dict.json)")
    return True


@dataclass(frozen=True)
class CardText:
    """What one set's card says, section by section (markdown bodies)."""

    pretty_name: str
    license: str  # Hub licence id of the set as a whole, e.g. "cc-by-4.0" or "other"
    summary: str
    provenance: str
    licences: str
    selection: str
    fields: dict[str, str]  # column -> meaning


def render_card(text: CardText, features: Features, stats: Stats) -> str:
    """Markdown card with Hub metadata (YAML front matter) for a set of `stats["rows"]` rows."""
    metadata = {
        "pretty_name": text.pretty_name,
        "license": text.license,
        "task_categories": ["visual-question-answering"],
        "language": ["en"],
        "size_categories": [_size_category(int(stats["rows"]))],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": EVALUATION_SPLIT, "path": f"data/{EVALUATION_SPLIT}-*"}],
            }
        ],
    }
    parts = [
        "---\n" + yaml.safe_dump(metadata, sort_keys=False) + "---",
        f"# {text.pretty_name}",
        text.summary.strip(),
        "## Provenance\n\n" + text.provenance.strip(),
        "## Licences\n\n" + text.licences.strip(),
        "## Selection rules\n\n" + text.selection.strip(),
        "## Counts\n\n" + _counts_table(stats),
        "## Fields\n\n" + _fields_table(features, text.fields),
        "## Loading\n\n" + _loading_text(),
    ]
    return "\n\n".join(parts) + "\n"


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return label
    return "100K<n<1M"


def _counts_table(stats: Stats) -> str:
    lines = ["| count | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in stats.items() if not isinstance(value, dict)]
    for name, breakdown in stats.items():
        if isinstance(breakdown, dict):
            lines += ["", f"{name}:", "", "| value | rows |", "| --- | --- |"]
            lines += [f"| {key} | {count} |" for key, count in sorted(breakdown.items())]
    return "\n".join(lines)


def _fields_table(features: Features, meanings: dict[str, str]) -> str:
    lines = ["| column | type | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {_type_name(feature)} | {meanings.get(name, '')} |" for name, feature in features.items()]
    return "\n".join(lines)


def _type_name(feature: object) -> str:
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, Image):
        return "image"
    if isinstance(feature, Array2D):
        return f"{feature.dtype} array {feature.shape[0]}x{feature.shape[1]}"
    if isinstance(feature, List):
        length = f"[{feature.length}]" if feature.length not in (None, -1) else ""
        return f"list{length} of {_type_name(feature.feature)}"
    if isinstance(feature, dict):
        return "struct {" + ", ".join(feature) + "}"
    return type(feature).__name__


def _loading_text() -> str:
    return (
        "This folder was written with `datasets.DatasetDict.save_to_disk`:\n\n"
        "```python\nfrom datasets import load_from_disk\n\n"
        f'rows = load_from_disk("path/to/this/folder")["{EVALUATION_SPLIT}"]\n```\n\n'
        "The pixelshap lmms-eval tasks find it when it lies at `$PIXELSHAP_DATA_DIR/<set>`."
    )
