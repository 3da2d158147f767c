"""A durable response store: request key -> model response, committed as responses arrive.

An attribution run multiplies model calls by its budget, so no answered call may be lost: each
batch of responses is committed in one SQLite transaction (WAL mode, synchronous writes) before
the next batch is asked for, so a run killed at any point keeps every batch it finished, and a
rerun asks the model only for what is missing. Several processes (accelerate ranks, two runs)
can share one store file; SQLite serialises their writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    request_type TEXT NOT NULL,
    response TEXT NOT NULL
)
"""


class ResponseStore:
    """Key -> JSON-encoded response, in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ValueError(f"response store {self.path} is a folder; give a file path such as {self.path / 'responses.sqlite'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=120, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise ValueError(f"cannot open the response store {self.path}: {error}; give a writable file path") from error

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The stored responses among `keys` (missing keys are absent from the result)."""
        found: dict[str, Any] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, response in self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):
                found[key] = json.loads(response)
        return found

    def put_many(self, request_type: str, items: Iterable[tuple[str, Any]]) -> None:
        """Commit (key, response) pairs in one transaction."""
        rows = [(key, request_type, json.dumps(response)) for key, response in items]
        with self._db:  # BEGIN ... COMMIT
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO responses (key, request_type, response) VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()
