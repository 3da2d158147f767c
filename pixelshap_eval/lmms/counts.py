"""How many documents a task scored, skipped and failed, as metrics of the results JSON.

Each document reports three 0/1 metrics and the task YAMLs sum them (`total`), so lmms-eval's
results JSON holds the counts next to the means. *Scored*: the document has its attribution and
metrics. *Skipped*: there was nothing to attribute (the answer to explain is empty), so no
metric is reported for it. *Failed*: the document's attribution or scoring raised an error
(its sample record says which); the other documents are still scored. A document with no
players sends no request to the model, and lmms-eval then does not count it at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Outcome = Literal["scored", "skipped", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("scored", "skipped", "failed")
COUNT_METRICS = tuple(f"documents_{outcome}" for outcome in OUTCOMES)


def document_counts(outcome: Outcome) -> dict[str, int]:
    """The three count metrics of one document: 1 for its outcome, 0 for the others."""
    if outcome not in OUTCOMES:
        raise ValueError(f"a document's outcome is one of {list(OUTCOMES)}, got {outcome!r}")
    return {f"documents_{name}": int(name == outcome) for name in OUTCOMES}


def total(items: Iterable[float]) -> int:
    """lmms-eval aggregation of a count metric: the sum over documents."""
    return int(sum(items))
