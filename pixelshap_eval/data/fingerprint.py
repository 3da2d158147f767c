"""A content fingerprint of a built set, so that runs on different data are never ranked together.

The builder stores it beside the set (`pixelshap_fingerprint.json`, written by `BuiltSet.save`);
the tasks copy it into the results. A set loaded from elsewhere (the Hub) is fingerprinted from
its content by the same function, so the same rows give the same fingerprint wherever they live.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
from datasets import DatasetDict

FINGERPRINT_FILE = "pixelshap_fingerprint.json"


def content_fingerprint(dataset: DatasetDict) -> str:
    """sha256 over every split's name, schema and rows (Arrow IPC bytes, images included)."""
    digest = hashlib.sha256()
    for split in sorted(dataset):
        table = dataset[split].with_format("arrow")[:]
        digest.update(split.encode())
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            for batch in table.combine_chunks().to_batches(max_chunksize=1024):
                writer.write_batch(batch)
        digest.update(sink.getvalue().to_pybytes())
    return "sha256:" + digest.hexdigest()


def write_fingerprint(dataset: DatasetDict, folder: Path) -> str:
    """Store the fingerprint of `dataset` in `folder` (beside a saved set); returns it."""
    fingerprint = content_fingerprint(dataset)
    (Path(folder) / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
    return fingerprint


def dataset_fingerprint(dataset: DatasetDict, folder: Path | None) -> str:
    """The fingerprint stored in `folder` by the builder, else the one of the content."""
    stored = Path(folder) / FINGERPRINT_FILE if folder is not None else None
    if stored is not None and stored.is_file():
        return str(json.loads(stored.read_text())["fingerprint"])
    return content_fingerprint(dataset)
