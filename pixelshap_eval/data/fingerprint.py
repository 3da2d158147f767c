"""A content fingerprint of a built set, so that runs on different data are never ranked together.

The builder stores it beside the set (`pixelshap_fingerprint.json`, written by `BuiltSet.save`);
the tasks copy it into the results. A set loaded from elsewhere (the Hub) is fingerprinted from
its content by the same function, so the same rows give the same fingerprint wherever they live.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import DatasetDict

FINGERPRINT_FILE = "pixelshap_fingerprint.json"


FINGERPRINT_BATCH_ROWS = 1024  # rows per IPC batch: part of the hashed bytes, so fixed


class _DigestSink:
    """A write-only file that feeds what is written to a hash instead of holding it."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest
        self.closed = False

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def content_fingerprint(dataset: DatasetDict) -> str:
    """sha256 over every split's name, schema and rows (Arrow IPC bytes, images included), in
    batches of `FINGERPRINT_BATCH_ROWS` rows however the table is chunked; one batch is held
    at a time, so a set larger than memory can be fingerprinted."""
    digest = hashlib.sha256()
    for split in sorted(dataset):
        rows = dataset[split].with_format("arrow")
        digest.update(split.encode())
        with pa.ipc.new_stream(pa.PythonFile(_DigestSink(digest), mode="w"), rows[:0].schema) as writer:
            for start in range(0, rows.num_rows, FINGERPRINT_BATCH_ROWS):
                for batch in rows[start : start + FINGERPRINT_BATCH_ROWS].combine_chunks().to_batches():
                    writer.write_batch(batch)
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
