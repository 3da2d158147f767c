"""The rules a release check applies, as users write them on the command line or in a policy.

    --require "recall_at_1>=0.45"            absolute threshold on a task aggregate (every task that has it)
    --require "pixelshap_synth:off_target_rate<=0.2"   scoped to one task
    --max-regression "recall_at_1=0.02"      at most this much worse than --baseline (paired test)

A policy file (YAML) holds the same rules plus the significance level and the sanity check:

    alpha: 0.05
    require: ["recall_at_1>=0.9", "off_target_rate<=0.2"]
    max_regression: ["recall_at_1=0.02"]
    sanity: {metric: recall_at_1, max_rank_correlation: 0.5, tasks: [pixelshap_synth]}
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
DEFAULT_ALPHA = 0.05
DEFAULT_MAX_RANK_CORRELATION = 0.5  # randomised attributions must correlate less than this with trained ones
_NAME = r"(?:(?P<task>[A-Za-z0-9_.-]+):)?(?P<metric>[A-Za-z0-9_]+)"
_REQUIRE = re.compile(rf"\s*{_NAME}\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>[-+0-9.eE]+)\s*")
_REGRESSION = re.compile(rf"\s*{_NAME}\s*=\s*(?P<value>[0-9.eE+-]+)\s*")


class PolicyError(ValueError):
    """A rule or policy file that cannot be read; the message shows the expected form."""


@dataclass(frozen=True)
class Requirement:
    task: str | None
    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.task + ':' if self.task else ''}{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class MaxRegression:
    task: str | None
    metric: str
    margin: float

    def __str__(self) -> str:
        return f"{self.task + ':' if self.task else ''}{self.metric} regression <= {self.margin:g}"


@dataclass(frozen=True)
class Sanity:
    metric: str | None = None  # the metric whose trained - randomised gap must be significant (default: each task's first)
    max_rank_correlation: float = DEFAULT_MAX_RANK_CORRELATION
    tasks: tuple[str, ...] = ()  # the tasks it applies to (default: every task both runs have)


@dataclass(frozen=True)
class Policy:
    requirements: list[Requirement] = field(default_factory=list)
    regressions: list[MaxRegression] = field(default_factory=list)
    sanity: Sanity = field(default_factory=Sanity)
    alpha: float = DEFAULT_ALPHA

    def merged(self, other: Policy) -> Policy:
        """This policy's rules plus `other`'s (command-line rules add to a policy file's)."""
        return Policy(self.requirements + other.requirements, self.regressions + other.regressions, self.sanity, self.alpha)


def parse_requirement(text: str) -> Requirement:
    match = _REQUIRE.fullmatch(text)
    if not match:
        raise PolicyError(f"--require {text!r} is not METRIC<op>VALUE or TASK:METRIC<op>VALUE with <op> one of {list(OPERATORS)} (e.g. 'recall_at_1>=0.45')")
    return Requirement(match["task"], match["metric"], match["op"], float(match["value"]))


def parse_regression(text: str) -> MaxRegression:
    match = _REGRESSION.fullmatch(text)
    if not match:
        raise PolicyError(f"--max-regression {text!r} is not METRIC=MARGIN or TASK:METRIC=MARGIN (e.g. 'recall_at_1=0.02')")
    margin = float(match["value"])
    if margin < 0:
        raise PolicyError(f"--max-regression {text!r}: the margin must be >= 0")
    return MaxRegression(match["task"], match["metric"], margin)


def load_policy(path: str | Path) -> Policy:
    """A policy YAML file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"policy file {path} does not exist")
    data: Any = yaml.safe_load(path.read_text()) or {}
    known = {"alpha", "require", "max_regression", "sanity"}
    if not isinstance(data, dict) or set(data) - known:
        raise PolicyError(f"policy {path} must be a mapping with keys from {sorted(known)}; got {sorted(data) if isinstance(data, dict) else type(data).__name__}")
    sanity = data.get("sanity") or {}
    if not isinstance(sanity, dict) or set(sanity) - {"metric", "max_rank_correlation", "tasks"}:
        raise PolicyError(f"policy {path}: sanity takes metric, max_rank_correlation and tasks, got {sanity!r}")
    alpha = float(data.get("alpha", DEFAULT_ALPHA))
    if not 0 < alpha < 1:
        raise PolicyError(f"policy {path}: alpha must lie in (0, 1), got {alpha}")
    return Policy(
        requirements=[parse_requirement(str(r)) for r in data.get("require") or []],
        regressions=[parse_regression(str(r)) for r in data.get("max_regression") or []],
        sanity=Sanity(
            sanity.get("metric"), float(sanity.get("max_rank_correlation", DEFAULT_MAX_RANK_CORRELATION)), tuple(sanity.get("tasks") or ())
        ),
        alpha=alpha,
    )
