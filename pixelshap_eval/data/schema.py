"""The row formats every dataset of the project shares, and their conversions to players.

Object-importance rows (COCO set, synthetic scenes, demo photos): an image, a question that
can be answered only by looking at one target object, every annotated object of the image.
Human-attention rows: an image, a question and answer, and where people looked.
Attention-map rows: the same, with where people looked given as a grayscale map (VQA-HAT style)
pooled onto the same 12x12 padded grid, so both kinds are scored alike.
"""

from __future__ import annotations

import numpy as np
from datasets import Array2D, Features, Image, List, Value
from pycocotools import mask as mask_utils

from pixelshap_eval.players import Region

OBJECT = {
    "id": Value("int64"),
    "category": Value("string"),
    "supercategory": Value("string"),
    "box": List(Value("float32"), length=4),  # x, y, w, h in original-image pixels
    "mask_rle": Value("string"),  # COCO compressed RLE counts; size is (height, width) of the row
    "area": Value("float32"),  # mask area in pixels
}

OBJECT_IMPORTANCE_FEATURES = Features(
    {
        "question_id": Value("string"),
        "image": Image(),
        "image_id": Value("int64"),
        "width": Value("int32"),
        "height": Value("int32"),
        "question": Value("string"),
        "question_type": Value("string"),
        "answer": Value("string"),  # "" where the set has no gold answer (COCO)
        "target_index": Value("int32"),  # index of the target in `objects`
        "target": OBJECT,
        "objects": List(OBJECT),
        "source": Value("string"),
        "license": Value("int32"),
    }
)

HUMAN_GRID = 12  # the human-response set's grid: 12 x 12 cells of the padded 336x336 square

HUMAN_ATTENTION_FEATURES = Features(
    {
        "question_id": Value("string"),
        "image": Image(),
        "image_file": Value("string"),
        "width": Value("int32"),
        "height": Value("int32"),
        "object_name": Value("string"),
        "row_id": Value("int64"),  # the row's ID in the original release
        "question": Value("string"),
        "answer": Value("string"),
        "human_patches": List(Value("int32")),  # 1-based cell indices, most important first
        "human_map": Array2D((HUMAN_GRID, HUMAN_GRID), "float32"),  # rank-weighted, sums to 1
        "human_boxes": List(List(Value("float32"), length=4)),  # pixels of each patch, x y w h
        "source": Value("string"),
    }
)


ATTENTION_MAP_FEATURES = Features(
    {
        "question_id": Value("string"),
        "image": Image(),
        "image_file": Value("string"),
        "width": Value("int32"),
        "height": Value("int32"),
        "question": Value("string"),
        "answer": Value("string"),  # "" where the source has none
        "attention_map": Image(),  # grayscale (mode L) at the image's size, peak scaled to 255
        "human_map": Array2D((HUMAN_GRID, HUMAN_GRID), "float32"),  # map mass per padded-grid cell, sums to 1
        "human_patches": List(Value("int32")),  # 1-based cells holding the most mass, most first (3)
        "source": Value("string"),
    }
)


def encode_mask(mask: np.ndarray) -> str:
    """COCO compressed RLE counts of a boolean (H, W) mask, as text."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return rle["counts"].decode("ascii")


def decode_mask(counts: str, height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask from compressed RLE counts."""
    rle = {"size": [int(height), int(width)], "counts": counts.encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def object_regions(row: dict) -> list[Region]:
    """The players of an object-importance row: one region per annotated object."""
    height, width = int(row["height"]), int(row["width"])
    return [
        Region(
            label=obj["category"],
            mask=decode_mask(obj["mask_rle"], height, width),
            box=tuple(obj["box"]),
            id=int(obj["id"]),
        )
        for obj in row["objects"]
    ]
