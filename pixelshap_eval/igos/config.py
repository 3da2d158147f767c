"""The settings of one iGOS+/iGOS++ run, validated once (Python API and task YAMLs alike).

Defaults are the reference README's setting: 32 x 32 mask, l1 1.0, l2 0.1, l3 (BTV) 10,
10 integration steps, gamma 1.0, 5 iterations, momentum 5, lr 10, blur baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pixelshap_eval.igos.baseline import BASELINES

VARIANTS = ("igos+", "igos++")


@dataclass(frozen=True)
class IgosConfig:
    """How to optimise the mask (see the module docstring for the defaults' source)."""

    variant: str = "igos+"
    mask_size: int = 32
    ig_steps: int = 10
    iterations: int = 5
    lr: float = 10.0
    momentum: float = 5.0
    l1: float = 1.0
    l2: float = 0.1
    l3: float = 10.0
    gamma: float = 1.0
    noise_std: float = 0.2
    baseline: str = "blur"
    threshold: float = 1.0
    single_token_ratio: float = 0.5
    stop_words: bool = True  # drop stop-words and punctuation from the tokens (False: keep them)
    max_new_tokens: int = 32

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"iGOS variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"iGOS baseline must be one of {BASELINES}, got {self.baseline!r}")
        for name in ("mask_size", "ig_steps", "iterations", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"iGOS {name} must be a positive integer, got {value!r}")
        for name in ("lr", "momentum", "l1", "l2", "l3", "gamma", "noise_std"):
            if float(getattr(self, name)) < 0:
                raise ValueError(f"iGOS {name} must be >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.stop_words, bool):
            raise ValueError(f"iGOS stop_words must be true or false, got {self.stop_words!r}")
        if not 0.0 < self.single_token_ratio <= 1.0:
            raise ValueError(f"iGOS single_token_ratio must be in (0, 1], got {self.single_token_ratio}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> IgosConfig:
        """A config from a YAML/JSON mapping; unknown keys are an error naming the known ones."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown iGOS settings {unknown}; known: {sorted(known)}")
        return cls(**values)
