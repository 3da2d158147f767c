"""The human plausibility set, from the Patchwise cooperative-game paper's human responses.

Source rows read `Image_Path Obj_Name ID ; First Second Third`: the three cells people judged
most important for recognising the object, on the 12x12 grid over the image padded to a square
(LLaVA-1.5 "pad") and resized to 336x336, numbered row-major from 1; 0 = no cell given.
Each output row carries the image, the paper's yes/no prompt with answer "Yes", the cells as
given (1-based, most important first), a rank-weighted 12x12 map, and each cell's pixel box in
the original image (`grid.GridFrame` geometry, the same as `grid_regions(pad_to_square=True)`).

Rows with fewer than three cells keep what they have. Malformed rows are never guessed: the
build stops with one error listing each of them by line number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet, CardText, render_card
from pixelshap_eval.data.checks import SKIP_HINT, DecodedImage, Problems, confined_path, decode_image
from pixelshap_eval.data.schema import HUMAN_ATTENTION_FEATURES, HUMAN_GRID
from pixelshap_eval.grid import GridFrame
from pixelshap_eval.players import Box

HUMAN_PROMPT = "Does this image show a '{object}'? (One word answer, please.)"
HUMAN_ANSWER = "Yes"
RANK_WEIGHTS = (3.0, 2.0, 1.0)  # weight of the first, second and third cell in `human_map`
HEADER_START = "Image_Path"
SOURCE = "patchwise_human/coco_val2014"
N_CELLS = HUMAN_GRID * HUMAN_GRID


@dataclass(frozen=True)
class HumanAnnotation:
    """One parsed source row."""

    line: int  # 1-based line number in the source file
    image_file: str
    object_name: str
    row_id: int
    patches: tuple[int, ...]  # 1-based cells, most important first, zeros dropped


def parse_human_line(text: str, line: int) -> HumanAnnotation:
    """Parse `Image_Path Obj_Name ID ; First Second Third`; ValueError says what is wrong."""
    left, separator, right = text.partition(" ; ")
    if not separator:
        raise ValueError("no ' ; ' between the image/object/ID part and the three cells")
    words = left.split()
    if len(words) < 3:
        raise ValueError("expected 'Image_Path Obj_Name ID' before ' ; '")
    try:
        row_id = int(words[-1])
        cells = [int(value) for value in right.split()]
    except ValueError as error:
        raise ValueError(f"ID and cells must be integers ({error})") from None
    if len(cells) != 3:
        raise ValueError(f"expected 3 cells after ' ; ', got {len(cells)}")
    if any(not 0 <= cell <= N_CELLS for cell in cells):
        raise ValueError(f"cells must lie in 1..{N_CELLS} (0 = none given), got {cells}")
    given = [cell for cell in cells if cell]
    if cells[: len(given)] != given:
        raise ValueError(f"a cell follows a 0 (none given): {cells}")
    if not given:
        raise ValueError("no cell given (all three are 0)")
    if len(set(given)) != len(given):
        raise ValueError(f"a cell is repeated: {cells}")
    return HumanAnnotation(line, words[0], " ".join(words[1:-1]), row_id, tuple(given))


def read_human_annotations(path: Path, problems: Problems | None = None) -> list[HumanAnnotation]:
    """All rows of a human-response file; one ValueError lists every malformed line (with
    `problems.skip`, malformed rows and rows whose ID repeats are skipped and counted instead)."""
    problems = problems or Problems()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"human annotations file not found: {path}")
    rows: list[HumanAnnotation] = []
    malformed: list[str] = []
    for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip() or (line == 1 and text.startswith(HEADER_START)):
            continue
        try:
            rows.append(parse_human_line(text, line))
        except ValueError as error:
            malformed.append(f"line {line}: {error}: {text!r}")
    if malformed and not problems.skip:
        shown = "\n  ".join(malformed[:10])
        more = f"\n  ... and {len(malformed) - 10} more" if len(malformed) > 10 else ""
        raise ValueError(f"{path}: {len(malformed)} malformed row(s); fix or remove them, {SKIP_HINT}:\n  {shown}{more}")
    for problem in malformed:
        problems.counts["malformed row"] += 1
        problems.examples.setdefault("malformed row", problem)
    repeated = {row_id for row_id, count in Counter(row.row_id for row in rows).items() if count > 1}
    if repeated:
        problems.found("row ID repeated", f"{path}: IDs {sorted(repeated)[:10]}", "IDs must be unique")
        problems.counts["row ID repeated"] += sum(row.row_id in repeated for row in rows) - 1
    return [row for row in rows if row.row_id not in repeated]


def rank_weighted_map(patches: tuple[int, ...]) -> np.ndarray:
    """(12, 12) float32 map: `RANK_WEIGHTS` on the given 1-based cells, normalised to sum 1."""
    grid = np.zeros(N_CELLS, dtype=np.float64)
    for cell, weight in zip(patches, RANK_WEIGHTS):
        grid[cell - 1] = weight
    return (grid / grid.sum()).reshape(HUMAN_GRID, HUMAN_GRID).astype(np.float32)


def patch_boxes(patches: tuple[int, ...], width: int, height: int) -> list[Box]:
    """Pixel box (x, y, w, h) in the original image of each 1-based cell; (0, 0, 0, 0) for a
    cell that lies wholly in the padding."""
    cells = GridFrame(width, height, HUMAN_GRID, HUMAN_GRID, pad_to_square=True).cell_index_map()
    # a cell's pixels are (its column's x range) x (its row's y range): read both off the map's edges
    column_of_x, row_of_y = cells[0] % HUMAN_GRID, cells[:, 0] // HUMAN_GRID
    boxes = []
    for patch in patches:
        row, column = divmod(patch - 1, HUMAN_GRID)
        xs, ys = np.flatnonzero(column_of_x == column), np.flatnonzero(row_of_y == row)
        boxes.append(
            (float(xs[0]), float(ys[0]), float(len(xs)), float(len(ys)))
            if len(xs) and len(ys)
            else (0.0, 0.0, 0.0, 0.0)
        )
    return boxes


def build_human_set(annotations: Path, images: Path, limit: int | None = None, skip_invalid: bool = False) -> BuiltSet:
    """Build the human plausibility set; `limit` keeps the first `limit` rows of the file.
    Every image is decoded fully and confined to `images`; with `skip_invalid` bad rows and
    images are skipped and counted rather than refused (`checks`)."""
    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder not found: {images}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of rows, got {limit}")
    problems = Problems(skip=skip_invalid)
    source_rows = read_human_annotations(annotations, problems)
    kept = source_rows[:limit] if limit else source_rows
    paths = {row.image_file: confined_path(images, row.image_file) for row in kept}
    for name in sorted(name for name, path in paths.items() if path is None):
        problems.found("image path outside the image folder", f"{annotations}: image {name!r}", "use a path relative to the image folder")
    missing = sorted(name for name, path in paths.items() if path is not None and not path.is_file())
    if missing and not skip_invalid:
        raise FileNotFoundError(
            f"{len(missing)} image file(s) named in {annotations} are not in {images}, e.g. {missing[:3]}; {SKIP_HINT}"
        )
    if missing:
        problems.counts["image file missing"] += len(missing)
    decoded: dict[str, DecodedImage | None] = {}
    for name, path in paths.items():
        if path is None or name in missing:
            decoded[name] = None
            continue
        try:
            decoded[name] = decode_image(path)
        except ValueError as error:
            problems.found("image that does not decode", f"image {path}", str(error))
            decoded[name] = None
    skipped_rows = sum(decoded[row.image_file] is None for row in kept)

    rows = []
    n_patches: Counter = Counter()
    in_padding = 0
    for row in kept:
        image = decoded[row.image_file]
        if image is None:
            continue
        image_bytes, width, height = image.data, image.width, image.height
        boxes = patch_boxes(row.patches, width, height)
        in_padding += sum(box[2] == 0 for box in boxes)
        n_patches[str(len(row.patches))] += 1
        rows.append(
            {
                "question_id": f"patchwise-{row.row_id}",
                "image": {"bytes": image_bytes, "path": row.image_file},
                "image_file": row.image_file,
                "width": width,
                "height": height,
                "object_name": row.object_name,
                "row_id": row.row_id,
                "question": HUMAN_PROMPT.format(object=row.object_name),
                "answer": HUMAN_ANSWER,
                "human_patches": list(row.patches),
                "human_map": rank_weighted_map(row.patches),
                "human_boxes": [list(box) for box in boxes],
                "source": SOURCE,
            }
        )

    n_images = sum(image is not None for image in decoded.values())
    if not rows:
        raise ValueError(f"no row of {annotations} is left to build; fix the problems counted: {problems.summary()}")
    counts = {
        "rows": len(rows),
        "rows in file": len(source_rows),
        "rows skipped (their image is invalid)": skipped_rows,
        "images": n_images,
        **problems.summary(),
        "cells lying wholly in the padding": in_padding,
        "rows by number of cells given": dict(n_patches),
        "rows by object": dict(Counter(row["object_name"] for row in rows)),
    }
    dataset = DatasetDict({EVALUATION_SPLIT: Dataset.from_list(rows, features=HUMAN_ATTENTION_FEATURES)})
    return BuiltSet(
        name="human",
        dataset=dataset,
        card=render_card(_card_text(Path(annotations), n_images), HUMAN_ATTENTION_FEATURES, counts),
        stats=counts,
    )


def _card_text(annotations: Path, n_images: int) -> CardText:
    return CardText(
        pretty_name="PixelSHAP human attention (Patchwise human responses)",
        license="other",
        summary=(
            "Each row pairs a COCO image and an object name with the grid cells people judged most "
            "important for recognising that object. An attribution over the 12x12 grid is scored by how "
            "well its top cells match theirs (hit@3, precision@3, NDCG@3)."
        ),
        provenance=(
            f"Built by `pixelshap-eval build human` from `{annotations.name}`, the human-response set released "
            "with the Patchwise cooperative-game paper (TACL 2025, github.com/ZY123-GOOD/Patchwise_Cooperative), "
            f"and {n_images} of its COCO val2014 images (stored as the original JPEG bytes). No question text is stored "
            f'there; the prompt is the paper\'s: "{HUMAN_PROMPT}" with the answer "{HUMAN_ANSWER}".'
        ),
        licences=(
            "The release gives no licence file; ask its authors before redistributing the responses. The images "
            "are COCO val2014 images (Flickr photos under the licences COCO lists for them; COCO annotations "
            "are CC BY 4.0)."
        ),
        selection=(
            "- Every row of the source file is kept, in order (a build may keep only the first rows).\n"
            "- Cells are on the 12x12 grid of the image padded to a square with its mean colour and resized to "
            "336x336, numbered row-major from 1 (index = row * 12 + col + 1), most important first; source 0s "
            "(no cell given) are dropped, so some rows have one or two cells.\n"
            f"- `human_map` puts weights {', '.join(f'{w:g}' for w in RANK_WEIGHTS)} on the first, second and "
            "third cell and is normalised to sum 1.\n"
            "- `human_boxes` are the pixels of each cell in the original image (pixel centres decide); a cell "
            "lying wholly in the padding gets (0, 0, 0, 0).\n"
            "- Malformed source rows stop the build with their line numbers; none is guessed."
        ),
        fields={
            "question_id": "`patchwise-<ID>`",
            "image_file": "file name in the release",
            "object_name": "the object people looked for",
            "row_id": "the row's ID in the release (not a COCO id)",
            "question": "the paper's yes/no prompt",
            "answer": "`Yes`",
            "human_patches": "1-based grid cells, most important first (1 to 3)",
            "human_map": "rank-weighted 12x12 map, sums to 1",
            "human_boxes": "x, y, w, h of each cell in original-image pixels",
            "source": f"`{SOURCE}`",
        },
    )
