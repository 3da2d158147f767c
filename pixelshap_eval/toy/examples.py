"""Training examples for the toy model: synthetic scenes with objects blacked out at random.

The attribution game hides objects by filling them (or their boxes, or grid cells) with black.
Training on such images, with the answer unchanged when a non-target object is hidden and
`NO_REFERENT_ANSWER` when the target is hidden, makes the answer depend on the target and on
nothing else by construction: the property the attribution benchmark then checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelshap_eval.data.synth import (
    CELL,
    COLORS,
    DISTRACTOR_COLOR,
    GRID,
    NO_REFERENT_ANSWER,
    SHAPES,
    Scene,
    SceneObject,
    sample_scene,
)

HIDE_STYLES = ("precise", "box", "cell")
COLOR_CLASSES = ("no object", DISTRACTOR_COLOR, *COLORS)  # per-patch labels of the auxiliary loss
SHAPE_CLASSES = ("no object", *SHAPES)
PROMPT_SUFFIXES = ("", " Answer with one word.")
FILL = (0, 0, 0)


@dataclass(frozen=True)
class HidingPolicy:
    """How often training hides what: the target, each other object, some empty cells."""

    p_target: float = 0.2
    p_other: float = 0.3
    p_empty_cells: float = 0.1
    style_weights: tuple[float, float, float] = (0.3, 0.5, 0.2)  # HIDE_STYLES
    max_box_margin: int = 3


@dataclass(frozen=True, eq=False)
class ToyExample:
    """One training item: image, question, target answer, per-patch auxiliary labels."""

    image: np.ndarray  # uint8 (64, 64, 3)
    question: str
    answer: str
    question_type: str
    color_labels: np.ndarray  # int (16,), index into COLOR_CLASSES, row-major patches
    shape_labels: np.ndarray  # int (16,), index into SHAPE_CLASSES
    target_patch: int  # row-major patch of the visible target; -1 when the target is hidden


def cell_box(cell: tuple[int, int]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) pixels of a grid cell."""
    row, col = cell
    return col * CELL, row * CELL, (col + 1) * CELL, (row + 1) * CELL


def hide_region(image: np.ndarray, obj: SceneObject, style: str, margin: int = 0) -> None:
    """Fill `obj` black in place: its exact pixels ("precise"), its box grown by `margin` px
    and clipped to its cell ("box"), or its whole cell ("cell")."""
    if style == "precise":
        image[obj.mask] = FILL
        return
    cx0, cy0, cx1, cy1 = cell_box(obj.cell)
    if style == "cell":
        image[cy0:cy1, cx0:cx1] = FILL
        return
    if style != "box":
        raise ValueError(f"unknown hiding style {style!r}; choose one of {HIDE_STYLES}")
    x, y, w, h = (int(v) for v in obj.box)
    x0, y0 = max(x - margin, cx0), max(y - margin, cy0)
    x1, y1 = min(x + w + margin, cx1), min(y + h + margin, cy1)
    image[y0:y1, x0:x1] = FILL


def patch_labels(objects: list[SceneObject]) -> tuple[np.ndarray, np.ndarray]:
    """Colour and shape class of the visible object in each of the 16 patches (0 = none)."""
    colors = np.zeros(GRID * GRID, dtype=np.int64)
    shapes = np.zeros(GRID * GRID, dtype=np.int64)
    for obj in objects:
        patch = obj.cell[0] * GRID + obj.cell[1]
        colors[patch] = COLOR_CLASSES.index(obj.color)
        shapes[patch] = SHAPE_CLASSES.index(obj.shape)
    return colors, shapes


def hidden_example(scene: Scene, rng: np.random.Generator, policy: HidingPolicy = HidingPolicy()) -> ToyExample:
    """`scene` with a random set of objects (maybe the target) and empty cells blacked out."""
    hidden = rng.random(len(scene.objects)) < policy.p_other
    hidden[scene.target_index] = rng.random() < policy.p_target
    style = HIDE_STYLES[int(rng.choice(len(HIDE_STYLES), p=np.asarray(policy.style_weights) / sum(policy.style_weights)))]
    margin = int(rng.integers(0, policy.max_box_margin + 1))
    image = scene.image.copy()
    for obj, is_hidden in zip(scene.objects, hidden):
        if is_hidden:
            hide_region(image, obj, style, margin)
    if rng.random() < policy.p_empty_cells:
        occupied = {obj.cell for obj in scene.objects}
        empty = [divmod(k, GRID) for k in range(GRID * GRID) if divmod(k, GRID) not in occupied]
        for k in rng.choice(len(empty), size=min(len(empty), int(rng.integers(1, 4))), replace=False):
            x0, y0, x1, y1 = cell_box(empty[int(k)])
            image[y0:y1, x0:x1] = FILL
    visible = [obj for obj, is_hidden in zip(scene.objects, hidden) if not is_hidden]
    colors, shapes = patch_labels(visible)
    suffix = PROMPT_SUFFIXES[int(rng.integers(len(PROMPT_SUFFIXES)))]
    return ToyExample(
        image=image,
        question=scene.question + suffix,
        answer=NO_REFERENT_ANSWER if hidden[scene.target_index] else scene.answer,
        question_type=scene.question_type,
        color_labels=colors,
        shape_labels=shapes,
        target_patch=-1 if hidden[scene.target_index] else scene.target.cell[0] * GRID + scene.target.cell[1],
    )


def sample_examples(
    rng: np.random.Generator, n: int, question_types: tuple[str, ...], policy: HidingPolicy = HidingPolicy()
) -> list[ToyExample]:
    """`n` training examples, question types drawn uniformly from `question_types`."""
    types = [question_types[int(k)] for k in rng.integers(len(question_types), size=n)]
    return [hidden_example(sample_scene(rng, qtype), rng, policy) for qtype in types]

