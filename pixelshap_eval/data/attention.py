"""Generic human-attention sets given as image + question + grayscale map (VQA-HAT style).

Input: a JSON Lines manifest, one object per line with `image`, `question` and `map` (paths
relative to the manifest's folder, or absolute) and optional `answer` and `question_id`. A map is any
grayscale (or colour, taken as luminance) image; brighter = more attention. A map whose size
differs from its image's is resized to it (bilinear) and counted.

Each row keeps the map at the image's size (peak scaled to 255) and pools it onto the same
12x12 grid of the padded square as the Patchwise human set (`human_map`: mass per cell, sum 1;
`human_patches`: the 3 cells with the most mass, 1-based), so both sets are scored alike.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict
from PIL import Image as PILImage

from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet, CardText, render_card
from pixelshap_eval.data.checks import SKIP_HINT, Problems, decode_image
from pixelshap_eval.data.schema import ATTENTION_MAP_FEATURES, HUMAN_GRID
from pixelshap_eval.grid import GridFrame

TOP_CELLS = 3
REQUIRED_KEYS = ("image", "question", "map")


@dataclass(frozen=True)
class AttentionEntry:
    """One manifest line with its paths resolved."""

    line: int
    image: Path
    question: str
    map: Path
    answer: str
    question_id: str


def read_manifest(path: Path) -> list[AttentionEntry]:
    """Parse a JSON Lines manifest; one ValueError lists every bad line by number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attention manifest not found: {path}")
    entries, problems = [], []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as error:
            problems.append(f"line {line}: not valid JSON ({error})")
            continue
        missing = [key for key in REQUIRED_KEYS if not isinstance(item, dict) or not isinstance(item.get(key), str)]
        if missing:
            problems.append(f"line {line}: needs string fields {missing}")
            continue
        entries.append(
            AttentionEntry(
                line=line,
                image=path.parent / item["image"],  # the user's own manifest: absolute or relative paths
                question=item["question"],
                map=path.parent / item["map"],
                answer=str(item.get("answer", "")),
                question_id=str(item.get("question_id", f"{path.stem}-{line}")),
            )
        )
    if problems:
        raise ValueError(f"{path}: {len(problems)} bad line(s):\n  " + "\n  ".join(problems[:10]))
    if not entries:
        raise ValueError(f"{path} lists no rows; write one JSON object per line with keys {list(REQUIRED_KEYS)}")
    return entries


def load_attention_map(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """(map as float64 (H, W) with peak 1, whether it was resized) for an image of `size`."""
    with PILImage.open(path) as image:
        if image.mode not in ("L", "I", "I;16", "F"):
            image = image.convert("L")
        image = image.convert("F")
        resized = image.size != size
        if resized:
            image = image.resize(size, PILImage.Resampling.BILINEAR)
        values = np.asarray(image, dtype=np.float64)
    peak = values.max()
    if not np.isfinite(values).all() or values.min() < 0 or peak <= 0:
        raise ValueError(f"{path}: an attention map needs finite values >= 0, not all 0")
    return values / peak, resized


def pool_to_grid(attention: np.ndarray) -> np.ndarray:
    """(12, 12) float32: the map's mass on each cell of the padded-square grid, summing to 1."""
    height, width = attention.shape
    cells = GridFrame(width, height, HUMAN_GRID, HUMAN_GRID, pad_to_square=True).cell_index_map()
    mass = np.bincount(cells.ravel(), weights=attention.ravel(), minlength=HUMAN_GRID * HUMAN_GRID)
    return (mass / mass.sum()).reshape(HUMAN_GRID, HUMAN_GRID).astype(np.float32)


def top_cells(grid_map: np.ndarray, k: int = TOP_CELLS) -> list[int]:
    """1-based indices of the `k` cells with the most mass, most first (ties: lower index);
    cells without mass are never listed."""
    flat = np.asarray(grid_map, dtype=np.float64).ravel()
    order = np.argsort(-flat, kind="stable")[:k]
    return [int(cell) + 1 for cell in order if flat[cell] > 0]


def _png_bytes(attention: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.round(attention * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def build_attention_set(manifest: Path, source: str | None = None, license_id: str = "other", skip_invalid: bool = False) -> BuiltSet:
    """Build an attention-map set from a manifest. `source` names the origin (the `source`
    column and the card; default: the manifest's file name); `license_id` is its Hub licence id.
    Every image is decoded fully; with `skip_invalid` a row whose image or map is missing or
    unreadable is skipped and counted rather than refused (`checks`)."""
    manifest = Path(manifest)
    problems = Problems(skip=skip_invalid)
    entries = read_manifest(manifest)
    source = source or manifest.name
    missing = [str(p) for entry in entries for p in (entry.image, entry.map) if not p.is_file()]
    if missing and not skip_invalid:
        raise FileNotFoundError(f"{len(missing)} file(s) named in {manifest} do not exist, e.g. {missing[:3]}; {SKIP_HINT}")
    duplicates = [qid for qid, count in Counter(entry.question_id for entry in entries).items() if count > 1]
    if duplicates:
        raise ValueError(f"{manifest}: question_id values must be unique, repeated: {duplicates[:10]}")

    rows, resized_maps = [], 0
    for entry in entries:
        if not (entry.image.is_file() and entry.map.is_file()):
            problems.found("image or map file missing", f"{manifest} line {entry.line}", "add the file")
            continue
        try:
            decoded = decode_image(entry.image)
            attention, resized = load_attention_map(entry.map, (decoded.width, decoded.height))
        except ValueError as error:
            problems.found("image or map that does not decode", f"{manifest} line {entry.line}", str(error))
            continue
        resized_maps += resized
        grid_map = pool_to_grid(attention)
        rows.append(
            {
                "question_id": entry.question_id,
                "image": {"bytes": decoded.data, "path": entry.image.name},
                "image_file": entry.image.name,
                "width": decoded.width,
                "height": decoded.height,
                "question": entry.question,
                "answer": entry.answer,
                "attention_map": {"bytes": _png_bytes(attention), "path": entry.map.stem + ".png"},
                "human_map": grid_map,
                "human_patches": top_cells(grid_map),
                "source": source,
            }
        )
    if not rows:
        raise ValueError(f"no row of {manifest} is left to build; fix the problems counted: {problems.summary()}")
    counts = {
        "rows": len(rows),
        "images": len({row["image_file"] for row in rows}),
        "maps resized to their image": resized_maps,
        **problems.summary(),
    }
    dataset = DatasetDict({EVALUATION_SPLIT: Dataset.from_list(rows, features=ATTENTION_MAP_FEATURES)})
    card = render_card(_card_text(manifest, source, license_id), ATTENTION_MAP_FEATURES, counts)
    return BuiltSet(name="attention", dataset=dataset, card=card, stats=counts)


def _card_text(manifest: Path, source: str, license_id: str) -> CardText:
    return CardText(
        pretty_name=f"PixelSHAP human attention maps ({source})",
        license=license_id,
        summary=(
            "Each row pairs an image and a question with a map of where people looked, pooled onto the "
            "12x12 grid that PixelSHAP's grid players use, so an attribution's top cells can be compared "
            "with people's (hit@3, precision@3, NDCG@3)."
        ),
        provenance=f"Built by `pixelshap-eval build attention` from the manifest `{manifest.name}` ({source}).",
        licences=f"Set licence as given at build time: `{license_id}`. The images and maps keep their source's licences.",
        selection=(
            "- Every manifest line is one row, in order.\n"
            "- Maps are read as grayscale, resized to their image when sizes differ, and scaled to peak 1.\n"
            "- `human_map`: the map's mass on each cell of the 12x12 grid of the image padded to a square "
            '(LLaVA-1.5 "pad"; pixel centres decide), normalised to sum 1.\n'
            f"- `human_patches`: the {TOP_CELLS} cells with the most mass, 1-based row-major, most first."
        ),
        fields={
            "question_id": "from the manifest, else `<manifest name>-<line>`",
            "image_file": "image file name",
            "answer": "from the manifest, else empty",
            "attention_map": "the map at the image's size, grayscale, peak 255",
            "human_map": "map mass per grid cell, sums to 1",
            "human_patches": "1-based cells with the most mass, most first",
            "source": "origin named at build time",
        },
    )
