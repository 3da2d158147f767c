"""Streamed builds: rows reach the staging file while they are made, a failed build leaves no
staging folder, saved sets are sharded, and the fingerprint does not depend on the chunking."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pytest
from datasets import Dataset, DatasetDict, Features, Image, Value, concatenate_datasets, config, load_from_disk

from pixelshap_eval.data import cards, staging
from pixelshap_eval.data.coco import build_coco_set
from pixelshap_eval.data.fingerprint import FINGERPRINT_FILE, content_fingerprint

FEATURES = Features({"n": Value("int64"), "image": Image()})


def _staged_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*.arrow"))


def _whole_table_fingerprint(dataset: DatasetDict) -> str:
    """The fingerprint as first released: every split combined into one table, then hashed."""
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


def test_rows_reach_the_disk_while_they_are_made(tmp_path, monkeypatch, shared_data):
    monkeypatch.setattr(config, "HF_DATASETS_CACHE", str(tmp_path))
    jpeg = next((shared_data / "coco_tiny" / "val2017").glob("*.jpg")).read_bytes()
    staged_while_making = []

    def rows():
        for n in range(5 * staging.ROWS_PER_WRITE):
            if n == 3 * staging.ROWS_PER_WRITE:
                staged_while_making.append(_staged_bytes(tmp_path / staging.STAGING_FOLDER))
            yield {"n": n, "image": {"bytes": jpeg, "path": None}}

    dataset = staging.stream_rows(rows(), FEATURES)
    assert staged_while_making[0] >= 2 * staging.ROWS_PER_WRITE * len(jpeg)  # at least two batches already out
    assert dataset.num_rows == 5 * staging.ROWS_PER_WRITE and dataset["n"][-1] == dataset.num_rows - 1
    assert dataset.cache_files and Path(dataset.cache_files[0]["filename"]).is_relative_to(tmp_path)


def test_a_failed_build_leaves_no_staging_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "HF_DATASETS_CACHE", str(tmp_path))

    def rows():
        yield {"n": 1, "image": None}
        raise ValueError("image 2 does not decode")

    with pytest.raises(ValueError, match="image 2 does not decode"):
        staging.stream_rows(rows(), FEATURES)
    assert list((tmp_path / staging.STAGING_FOLDER).iterdir()) == []


def test_saved_sets_are_sharded_and_keep_their_fingerprint(tmp_path, monkeypatch, shared_data):
    coco = shared_data / "coco_tiny"
    built = build_coco_set(coco / "annotations" / "instances_val2017.json", coco / "val2017", limit=30)
    monkeypatch.setattr(cards, "MAX_SHARD_SIZE", "1MB")
    out = built.save(tmp_path / "coco")
    shards = sorted((out / "test").glob("data-*.arrow"))
    assert len(shards) >= 3 and all(shard.stat().st_size < 3_000_000 for shard in shards)
    reloaded = load_from_disk(str(out))
    stored = (out / FINGERPRINT_FILE).read_text()
    assert content_fingerprint(reloaded) in stored
    assert content_fingerprint(reloaded) == content_fingerprint(built.dataset) == _whole_table_fingerprint(reloaded)


def test_fingerprint_is_the_released_one_whatever_the_chunks(shared_data):
    jpeg = next((shared_data / "coco_tiny" / "val2017").glob("*.jpg")).read_bytes()
    parts = [
        Dataset.from_list([{"n": n, "image": {"bytes": jpeg[: 100 + n], "path": None}} for n in range(k, k + 700)], features=FEATURES)
        for k in (0, 700, 1400)
    ]
    chunked = DatasetDict({"test": concatenate_datasets(parts), "extra": concatenate_datasets(parts).select(range(3, 1900, 2))})
    assert chunked["test"].data.table.column(0).num_chunks > 1
    assert content_fingerprint(chunked) == _whole_table_fingerprint(chunked)
    changed = DatasetDict({"test": chunked["test"].select(range(2099)), "extra": chunked["extra"]})
    assert content_fingerprint(changed) != content_fingerprint(chunked)
