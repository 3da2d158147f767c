"""Attribution settings of a pixelshap task: the YAML `pixelshap:` block, plus run-time overrides.

lmms-eval 0.7.3 has no `--metadata` flag, so users override settings with the environment
variable `PIXELSHAP_CONFIG`: either inline `key=value` pairs separated by commas, or the path of
a YAML file holding a mapping. Keys may be scoped to one task as `<task>.<key>`
(e.g. `PIXELSHAP_CONFIG="budget=64,pixelshap_human.estimator=permutation"`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pixelshap_eval.logit_lens import ALL_LAYERS, resolve_layers
from pixelshap_eval.masking import Masker
from pixelshap_eval.shapley import ESTIMATORS
from pixelshap_eval.shapley.surrogate import READOUTS

ENV_VAR = "PIXELSHAP_CONFIG"

PLAYER_SOURCES = ("objects", "grid", "sam")
VALUE_FUNCTIONS = ("similarity", "logprob", "geomean_prob")
REFERENCES = ("model", "gold")
ROAD_RANKINGS = ("given", "random")


@dataclass(frozen=True)
class AttributionConfig:
    """Everything that decides how one document's attribution is computed and scored."""

    dataset: str = "coco"  # built set name under $PIXELSHAP_DATA_DIR
    players: str = "objects"  # objects | grid | sam
    max_players: int = 16  # objects: keep the largest ones beyond this
    max_image_side: int = 2048  # downscale larger images once, before masking; 0: never
    grid_rows: int = 12
    grid_cols: int = 12
    grid_pad_to_square: bool = True
    sam_checkpoint: str | None = None
    sam_model_type: str = "vit_b"
    strategy: str = "bboa"  # precise | bbox | bboa
    fill: str = "black"  # black | gray | pad | mean | blur
    dilation: int = 0  # precise: grow each hidden mask by this many pixels
    box_margin: int = 2  # bbox, bboa: grow each hidden box by this many pixels
    blur_radius: float = 10.0  # blur: Gaussian radius of the fill
    estimator: str = "kernel"
    readout: str = "banzhaf"  # estimator surrogate: banzhaf (as published) | shapley
    budget: int | str = "auto"  # an int, "auto", or a formula in n such as "2n+2"
    value: str = "similarity"  # similarity | logprob | geomean_prob (pixelshap_hf only)
    reference: str = "model"  # model: the full-image answer; gold: the dataset's answer
    embedder: str | None = None  # sentence-transformers path; None: all-MiniLM-L6-v2
    seed: int = 0
    heatmaps: bool = True
    rankings: str | None = None  # faithfulness tasks: samples JSONL of the attribution run
    layerwise: bool = False  # layer-wise tasks: v(S) = first-token probability at each decoder layer
    layers: str | tuple[int, ...] = ALL_LAYERS  # layer-wise: "all" or 1-based layer numbers
    road_points: int = 51  # ROAD tasks: points per MoRF / LeRF curve (0%, 2%, ..., 100% removed)
    road_noise: float = 0.01  # ROAD tasks: std of the imputation noise on the [0, 1] pixel scale
    road_ranking: str = "given"  # ROAD tasks: given (the rankings file's) | random (seeded, a baseline)
    igos: dict[str, Any] | None = None  # iGOS tasks: `igos.IgosConfig` settings (variant, iterations, ...)

    def __post_init__(self) -> None:
        _check_choice("players", self.players, PLAYER_SOURCES)
        _check_choice("value", self.value, VALUE_FUNCTIONS)
        _check_choice("reference", self.reference, REFERENCES)
        if self.max_image_side < 0:
            raise ValueError(f"pixelshap option max_image_side must be >= 0 (0 keeps images as they are), got {self.max_image_side}")
        if self.max_players < 1:
            raise ValueError(f"pixelshap option max_players must be >= 1, got {self.max_players}")
        if self.value == "similarity" and self.reference == "gold":
            raise ValueError(
                "pixelshap option reference=gold needs value=logprob or geomean_prob (similarity compares to the full-image answer)"
            )
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"pixelshap option estimator={self.estimator!r} is not one of {sorted(ESTIMATORS)}")
        _check_choice("readout", self.readout, READOUTS)
        if self.readout != "banzhaf" and self.estimator != "surrogate":
            raise ValueError(
                f"pixelshap option readout={self.readout!r} reads out the surrogate estimator; set estimator=surrogate "
                f"or drop readout (estimator {self.estimator!r} has no readout)"
            )
        for name in ("grid_rows", "grid_cols"):
            if getattr(self, name) < 1:
                raise ValueError(f"pixelshap option {name} must be >= 1, got {getattr(self, name)}")
        if self.embedder is not None:
            _check_embedder(self.embedder)
        budget_for(self.budget, 4)  # validates the formula early
        _check_layers(self)
        _check_choice("road_ranking", self.road_ranking, ROAD_RANKINGS)
        if self.road_points < 2:
            raise ValueError(f"pixelshap option road_points must be >= 2 (0% and 100% removed), got {self.road_points}")
        if not (math.isfinite(self.road_noise) and self.road_noise >= 0):
            raise ValueError(f"pixelshap option road_noise must be a finite std >= 0 (0.01 = 1% of the pixel range), got {self.road_noise}")
        _ = self.masker  # building it validates the masking settings early
        if self.igos is not None:
            from pixelshap_eval.igos.config import IgosConfig

            if not isinstance(self.igos, dict):
                raise ValueError(f"pixelshap option igos must be a mapping of iGOS settings, got {self.igos!r}")
            IgosConfig.from_mapping(self.igos)

    @property
    def masker(self) -> Masker:
        """The masking settings as the one object `explain()` takes too."""
        return Masker(self.strategy, self.fill, self.dilation, self.box_margin, self.blur_radius)

    @property
    def estimator_options(self) -> dict[str, Any]:
        """The keyword arguments the task's estimator is built with."""
        return {"readout": self.readout} if self.estimator == "surrogate" else {}

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_layers(config: AttributionConfig) -> None:
    """`layers` checked as far as it can be before the model is known (its range is checked by
    the model), and kept as "all" or a tuple; layer-wise values need a log-probability task."""
    if isinstance(config.layers, str) and config.layers.strip().lower() == ALL_LAYERS:
        object.__setattr__(config, "layers", ALL_LAYERS)
    else:
        try:
            object.__setattr__(config, "layers", resolve_layers(config.layers, n_layers=None))
        except ValueError as error:
            raise ValueError(f"pixelshap option {error}") from None
    if config.layerwise and config.value != "logprob":
        raise ValueError(
            "pixelshap option layerwise=true reads the first-token probability of the answer a log-probability task "
            f"scores: set value=logprob (got value={config.value})"
        )


def budget_for(budget: int | str, n_players: int) -> int | None:
    """The number of model calls for a game of `n_players`: None for the estimator's default."""
    if isinstance(budget, int):
        return budget
    text = str(budget).replace(" ", "").lower()
    if text == "auto":
        return None
    if text.isdigit():
        return int(text)
    match = re.fullmatch(r"(\d*)n(?:\+(\d+))?", text)
    if not match:
        raise ValueError(f"pixelshap option budget={budget!r} is not understood: use an integer, 'auto' or a formula like '2n+2'")
    factor = int(match.group(1) or 1)
    return factor * n_players + int(match.group(2) or 0)


def _check_embedder(embedder: str) -> None:
    """A bad embedder path fails at task load, not after every model call has been made."""
    from pixelshap_eval.hf_runner import check_model_source

    try:
        check_model_source(embedder)
    except FileNotFoundError as error:
        raise ValueError(f"pixelshap option embedder={embedder!r}: {error}") from None


def load_config(
    task_name: str, block: dict[str, Any] | None, environ: dict[str, str] | None = None, known_tasks: Collection[str] = ()
) -> AttributionConfig:
    """The task's YAML block with the `PIXELSHAP_CONFIG` overrides that apply to `task_name`.
    Every override is checked, also those scoped to other tasks: a scope must name `task_name`
    or one of `known_tasks`, and every option name must exist."""
    values = dict(block or {})
    values.update(overrides_for(task_name, (environ if environ is not None else os.environ).get(ENV_VAR), known_tasks))
    _check_names(values, f"for task {task_name}")
    known = {f.name: f for f in dataclasses.fields(AttributionConfig)}
    return AttributionConfig(**{k: _coerce(known[k], v) for k, v in values.items()})


def overrides_for(task_name: str, spec: str | None, known_tasks: Collection[str] = ()) -> dict[str, Any]:
    """Parse a `PIXELSHAP_CONFIG` value and keep the keys meant for `task_name`; a scope that
    names no known task (`known_tasks` or `task_name`) or an unknown option is an error."""
    if not spec:
        return {}
    tasks = {task_name, *known_tasks}
    selected: dict[str, Any] = {}
    scoped: dict[str, Any] = {}
    for key, value in parse_settings(spec).items():
        if isinstance(value, dict) or "." in key:
            scope, options = (key, value) if isinstance(value, dict) else (key.split(".", 1)[0], {key.split(".", 1)[1]: value})
            if scope not in tasks:
                raise ValueError(
                    f"{ENV_VAR} scopes settings to {scope!r}, which is no pixelshap task; known tasks: {sorted(tasks)}"
                )
            _check_names(options, f"in {ENV_VAR} scope {scope}")
            if scope == task_name:
                scoped.update(options)
        else:
            selected[key] = value
    _check_names(selected, f"in {ENV_VAR}")
    selected.update(scoped)
    return selected


def scopes_in(spec: str) -> set[str]:
    """The task names a `PIXELSHAP_CONFIG` value scopes settings to."""
    return {key if isinstance(value, dict) else key.split(".", 1)[0] for key, value in parse_settings(spec).items() if isinstance(value, dict) or "." in key}


def parse_settings(spec: str, where: str = ENV_VAR) -> dict[str, Any]:
    """The key: value mapping of a settings value (inline `key=value` pairs split on commas, or
    a YAML/JSON file), as `PIXELSHAP_CONFIG` takes it; `where` names the value in errors."""
    spec = spec.strip()
    path = Path(spec)
    if spec.endswith((".yaml", ".yml", ".json")) or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"{where} names the file {spec}, which does not exist")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{where} file {spec} must hold a mapping of option: value")
        return {str(key): value for key, value in raw.items()}
    raw = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        if "=" not in item:
            raise ValueError(f"{where} entry {item!r} is not key=value (e.g. {where}='budget=64,seed=1')")
        key, value = item.split("=", 1)
        raw[key.strip()] = yaml.safe_load(value.strip())
    return raw


def _check_names(values: dict[str, Any], where: str) -> None:
    known = sorted(f.name for f in dataclasses.fields(AttributionConfig))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown pixelshap option(s) {unknown} {where}; known options: {known}")


def _coerce(spec: dataclasses.Field, value: Any) -> Any:
    kind = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    if value is None:
        return None
    if kind == "bool" and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    if kind == "int" and not isinstance(value, bool):
        return int(value)
    if kind == "float" and not isinstance(value, bool):
        return float(value)
    if kind == "str" and not isinstance(value, str):
        return str(value)
    return value


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"pixelshap option {name}={value!r} is not one of {list(choices)}")
