"""The outcome of one release-check rule (shared by the gate and the sanity check)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    kind: str  # "require", "regression", "sanity"
    name: str  # the rule as written, with its task
    status: str  # "pass", "fail" or "skip"
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"
