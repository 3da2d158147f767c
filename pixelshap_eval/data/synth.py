"""Seeded synthetic scenes whose answer depends, by construction, on one target object.

Layout (chosen so that a tiny VLM can learn it on a CPU): a 64x64 image split into a 4x4 grid
of 16-px cells; each object sits alone inside one cell, at least `CELL_MARGIN` (2) px from the
cell's border, so that a vision tower with 16-px patches sees each object as exactly one image
token, and a hidden object's box grown by the attribution's 2-px margin (BBOA) stays inside its
own cell. Objects are flat-coloured shapes (5 shapes, 6 colours, plus gray for distractors;
8-12 px) on a light, lightly textured background that is far from black, so a blacked-out
object never looks like a drawn one.

Question types, each with a one-word answer that depends on exactly one object (the target):

- `color_of_odd`: "What color is the object?" - one coloured object among gray distractors.
- `color_at_position`: "What color is the object at the top left?" - one object per quadrant
  (quadrant = 2x2 cells), all coloured; the position names the quadrant.
- `shape_of_color`: "What shape is the blue object?" - the target's colour is unique.
- `color_of_shape`: "What color is the circle?" - the target's shape is unique.

When the target is hidden the question has no referent left; `NO_REFERENT_ANSWER` ("none") is
the answer the toy model is trained to give then.

Rows follow `OBJECT_IMPORTANCE_FEATURES`: object category = "<color> <shape>" (e.g.
"red circle"), supercategory = the shape name, id = the object's index in the scene.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from datasets import DatasetDict
from PIL import Image

from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet, CardText, render_card
from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES, encode_mask
from pixelshap_eval.data.staging import stream_rows
from pixelshap_eval.players import Box, box_of_mask

IMAGE_SIZE = 64
GRID = 4
CELL = IMAGE_SIZE // GRID
CELL_MARGIN = 2
OBJECT_SIZES = (8, 9, 10, 11, 12)
MIN_OBJECTS, MAX_OBJECTS = 3, 6

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 205, 30),
    "purple": (140, 55, 185),
    "orange": (245, 135, 20),
}
DISTRACTOR_COLOR = "gray"
DISTRACTOR_RGB = (125, 125, 125)
COLOR_JITTER = 12  # per-channel uniform jitter of an object's flat colour
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
QUESTION_TYPES = ("color_of_odd", "color_at_position", "shape_of_color", "color_of_shape")
NO_REFERENT_ANSWER = "none"
BACKGROUND_RGB = (205, 200, 188)
SOURCE = "synth"
LICENSE = 0  # generated images: no third-party licence


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One drawn object: its shape, colour name, exact RGB, grid cell and exact pixels."""

    shape: str
    color: str
    rgb: tuple[int, int, int]
    cell: tuple[int, int]  # (row, col) on the 4x4 grid
    mask: np.ndarray  # bool (IMAGE_SIZE, IMAGE_SIZE)
    box: Box  # tight x, y, w, h of the mask

    @property
    def category(self) -> str:
        return f"{self.color} {self.shape}"

    @property
    def quadrant(self) -> int:
        """Index into QUADRANTS of the 2x2 block of cells this object lies in."""
        row, col = self.cell
        return (row // 2) * 2 + col // 2


@dataclass(frozen=True, eq=False)
class Scene:
    """An image, its objects and a question whose answer depends on objects[target_index]."""

    image: np.ndarray  # uint8 (IMAGE_SIZE, IMAGE_SIZE, 3)
    objects: tuple[SceneObject, ...]
    question: str
    answer: str
    question_type: str
    target_index: int

    @property
    def target(self) -> SceneObject:
        return self.objects[self.target_index]


def shape_mask(shape: str, size: int) -> np.ndarray:
    """Boolean (size, size) raster of `shape`, judged at pixel centres."""
    centre = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = np.abs(xs - centre), np.abs(ys - centre)
    half = size / 2
    if shape == "circle":
        return dx**2 + dy**2 <= half**2
    if shape == "square":
        return np.ones((size, size), dtype=bool)
    if shape == "triangle":  # apex up, base on the bottom row
        return dx <= (ys + 1) / size * half
    if shape == "diamond":
        return dx + dy <= half
    if shape == "cross":
        arm = size / 6
        return (dx <= arm) | (dy <= arm)
    raise ValueError(f"unknown shape {shape!r}; choose one of {SHAPES}")


def textured_background(rng: np.random.Generator) -> np.ndarray:
    """Light background: a smooth random field plus faint pixel noise, never near black."""
    coarse = rng.uniform(-10, 10, size=(GRID + 1, GRID + 1, 3))
    at = np.linspace(0, GRID, IMAGE_SIZE)  # bilinear interpolation of the coarse field
    low = np.minimum(at.astype(int), GRID - 1)
    frac = (at - low)[:, None]
    rows = coarse[low] * (1 - frac[:, :, None]) + coarse[low + 1] * frac[:, :, None]
    smooth = rows[:, low] * (1 - frac.T[:, :, None]) + rows[:, low + 1] * frac.T[:, :, None]
    noise = rng.uniform(-6, 6, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return np.clip(np.asarray(BACKGROUND_RGB) + smooth + noise, 0, 255).astype(np.uint8)


def place_object(rng: np.random.Generator, shape: str, color: str, cell: tuple[int, int]) -> SceneObject:
    """An object of random size and offset inside `cell`, keeping CELL_MARGIN from its border."""
    size = int(rng.choice(OBJECT_SIZES))
    free = CELL - 2 * CELL_MARGIN - size
    dx, dy = (int(v) for v in rng.integers(0, free + 1, size=2))
    x0, y0 = cell[1] * CELL + CELL_MARGIN + dx, cell[0] * CELL + CELL_MARGIN + dy
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    mask[y0 : y0 + size, x0 : x0 + size] = shape_mask(shape, size)
    base = COLORS.get(color, DISTRACTOR_RGB)
    red, green, blue = (int(np.clip(c + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1), 0, 255)) for c in base)
    rgb = (red, green, blue)
    return SceneObject(shape=shape, color=color, rgb=rgb, cell=cell, mask=mask, box=box_of_mask(mask))


def paint(background: np.ndarray, objects: tuple[SceneObject, ...]) -> np.ndarray:
    """The image: each object's mask filled with its flat RGB on a copy of the background."""
    image = background.copy()
    for obj in objects:
        image[obj.mask] = obj.rgb
    return image


def sample_scene(rng: np.random.Generator, question_type: str) -> Scene:
    """One random scene and question of `question_type` (see QUESTION_TYPES)."""
    if question_type not in _BUILDERS:
        raise ValueError(f"unknown question type {question_type!r}; choose from {QUESTION_TYPES}")
    background = textured_background(rng)
    objects, question, target_index, answer = _BUILDERS[question_type](rng)
    return Scene(
        image=paint(background, objects),
        objects=objects,
        question=question,
        answer=answer,
        question_type=question_type,
        target_index=target_index,
    )


def _random_cells(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    flat = rng.choice(GRID * GRID, size=n, replace=False)
    return [divmod(int(k), GRID) for k in flat]


def _n_objects(rng: np.random.Generator) -> int:
    return int(rng.integers(MIN_OBJECTS, MAX_OBJECTS + 1))


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def _color_of_odd(rng):
    n = _n_objects(rng)
    target = int(rng.integers(n))
    colors = [DISTRACTOR_COLOR] * n
    colors[target] = _pick(rng, list(COLORS))
    objects = tuple(
        place_object(rng, _pick(rng, SHAPES), color, cell) for color, cell in zip(colors, _random_cells(rng, n))
    )
    return objects, "What color is the object?", target, colors[target]


def _color_at_position(rng):
    cells = []
    for quadrant in range(len(QUADRANTS)):
        row, col = divmod(int(rng.integers(4)), 2)
        cells.append((2 * (quadrant // 2) + row, 2 * (quadrant % 2) + col))
    objects = tuple(place_object(rng, _pick(rng, SHAPES), _pick(rng, list(COLORS)), cell) for cell in cells)
    target = int(rng.integers(len(QUADRANTS)))
    return objects, f"What color is the object at the {QUADRANTS[target]}?", target, objects[target].color


def _shape_of_color(rng):
    n = _n_objects(rng)
    target = int(rng.integers(n))
    target_color = _pick(rng, list(COLORS))
    others = [c for c in COLORS if c != target_color]
    colors = [target_color if i == target else _pick(rng, others) for i in range(n)]
    objects = tuple(
        place_object(rng, _pick(rng, SHAPES), color, cell) for color, cell in zip(colors, _random_cells(rng, n))
    )
    return objects, f"What shape is the {target_color} object?", target, objects[target].shape


def _color_of_shape(rng):
    n = _n_objects(rng)
    target = int(rng.integers(n))
    target_shape = _pick(rng, SHAPES)
    others = [s for s in SHAPES if s != target_shape]
    shapes = [target_shape if i == target else _pick(rng, others) for i in range(n)]
    objects = tuple(
        place_object(rng, shape, _pick(rng, list(COLORS)), cell) for shape, cell in zip(shapes, _random_cells(rng, n))
    )
    return objects, f"What color is the {target_shape}?", target, objects[target].color


_BUILDERS = {
    "color_of_odd": _color_of_odd,
    "color_at_position": _color_at_position,
    "shape_of_color": _shape_of_color,
    "color_of_shape": _color_of_shape,
}


def scene_rng(seed: int, question_type: str, index: int) -> np.random.Generator:
    """The generator of scene `index` of `question_type`: independent of which other types or
    how many scenes are built, so a scene is reproducible on its own."""
    return np.random.default_rng(np.random.SeedSequence([seed, QUESTION_TYPES.index(question_type), index]))


def scene_row(scene: Scene, question_id: str, image_id: int) -> dict:
    """One `OBJECT_IMPORTANCE_FEATURES` row of a scene."""
    objects = [
        {
            "id": i,
            "category": obj.category,
            "supercategory": obj.shape,
            "box": list(obj.box),
            "mask_rle": encode_mask(obj.mask),
            "area": float(obj.mask.sum()),
        }
        for i, obj in enumerate(scene.objects)
    ]
    return {
        "question_id": question_id,
        "image": Image.fromarray(scene.image),
        "image_id": image_id,
        "width": IMAGE_SIZE,
        "height": IMAGE_SIZE,
        "question": scene.question,
        "question_type": scene.question_type,
        "answer": scene.answer,
        "target_index": scene.target_index,
        "target": objects[scene.target_index],
        "objects": objects,
        "source": SOURCE,
        "license": LICENSE,
    }


def generate_scenes(n_per_type: int, seed: int = 0, question_types: tuple[str, ...] | list[str] = QUESTION_TYPES) -> list[Scene]:
    """`n_per_type` scenes of each question type, interleaved type by type."""
    types = _checked_types(question_types)
    if n_per_type < 1:
        raise ValueError(f"n_per_type must be at least 1, got {n_per_type}")
    return [sample_scene(scene_rng(seed, qtype, j), qtype) for j in range(n_per_type) for qtype in types]


def build_synth_dataset(
    n_per_type: int = 100, seed: int = 0, question_types: tuple[str, ...] | list[str] = QUESTION_TYPES
) -> DatasetDict:
    """The synthetic object-importance set: one split `test`, `n_per_type` rows per type."""
    types = _checked_types(question_types)
    if n_per_type < 1:
        raise ValueError(f"n_per_type must be at least 1, got {n_per_type}")
    rows = (
        scene_row(sample_scene(scene_rng(seed, qtype, j), qtype), f"synth-s{seed}-{qtype}-{j:05d}", image_id)
        for image_id, (j, qtype) in enumerate(itertools.product(range(n_per_type), types))
    )
    return DatasetDict({EVALUATION_SPLIT: stream_rows(rows, OBJECT_IMPORTANCE_FEATURES)})  # any --n fits in memory


def build_synth_set(
    n_per_type: int = 100, seed: int = 0, question_types: tuple[str, ...] | list[str] = QUESTION_TYPES
) -> BuiltSet:
    """`build_synth_dataset` with its dataset card, ready to `save` like the other built sets."""
    types = _checked_types(question_types)
    dataset = build_synth_dataset(n_per_type, seed, types)
    stats = {"rows": len(dataset[EVALUATION_SPLIT]), "question types": len(types), "seed": seed}
    return BuiltSet(name="synth", dataset=dataset, card=render_card(_card_text(types, seed), OBJECT_IMPORTANCE_FEATURES, stats), stats=stats)


def _card_text(types: tuple[str, ...], seed: int) -> CardText:
    return CardText(
        pretty_name="PixelSHAP synthetic scenes",
        license="cc0-1.0",
        summary=(
            "Generated scenes of flat-coloured shapes whose one-word answer depends, by construction, on exactly one "
            "object (the target). An attribution method run on a model that answers them correctly has a known right "
            "answer: the target."
        ),
        provenance=f"Generated by `pixelshap-eval build synth` (`pixelshap_eval.data.synth`, seed {seed}); no external data.",
        licences="The images are generated; they are released under CC0.",
        selection=(
            f"Question types: {', '.join(types)}. 64x64 images, a 4x4 grid of 16-px cells with at most one object per "
            "cell, 8-12 px objects at least 2 px inside their cell, on a light textured background. Each scene is "
            "seeded by (seed, question type, index). See the module docstring for the question types."
        ),
        fields={"category": "'<color> <shape>' of each object", "supercategory": "the object's shape"},
    )


def _checked_types(question_types) -> tuple[str, ...]:
    types = tuple(question_types)
    unknown = [t for t in types if t not in QUESTION_TYPES]
    if unknown or not types:
        raise ValueError(f"unknown or no question types {unknown or types}; choose from {QUESTION_TYPES}")
    return types
