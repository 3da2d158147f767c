"""Rows streamed to an Arrow file as a builder makes them, so that its memory does not grow with
the number of images.

A builder yields its rows one at a time; `stream_rows` encodes each with the set's features
and writes them in small batches to a staging file, then returns the memory-mapped `Dataset`
over it. The staging folder lies under the `datasets` cache (`$HF_DATASETS_CACHE`, a disk
folder, unlike /tmp on some systems) and is removed when the process exits, so a build needs
about twice the set's size on disk while it runs (the staged rows, then the saved set).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, config
from datasets.arrow_writer import ArrowWriter

ROWS_PER_WRITE = 64  # rows held before a batch is written (image rows: about 10 MB)
STAGING_FOLDER = "pixelshap-staging"


def stream_rows(rows: Iterable[dict[str, Any]], features: Features) -> Dataset:
    """Write `rows` (consumed once, in order) to a fresh staging file; the Dataset over it."""
    root = Path(config.HF_DATASETS_CACHE) / STAGING_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    path = folder / "rows.arrow"
    try:
        with ArrowWriter(features=features, path=str(path), writer_batch_size=ROWS_PER_WRITE) as writer:
            for row in rows:
                writer.write(features.encode_example(row))
            writer.finalize()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    atexit.register(shutil.rmtree, folder, True)
    return Dataset.from_file(str(path))
