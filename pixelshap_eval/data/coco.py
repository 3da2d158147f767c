"""The COCO object-importance set: questions that only one target object of the image answers.

Selection rules (also written into the dataset card):

- Players: every non-crowd annotation of the image, in file order. Crowd annotations
  (`iscrowd=1`) mark groups, not objects: they are neither players nor targets, and their
  pixels stay visible as background.
- Targets: non-crowd annotations that are the only annotation of their category in the image
  (crowd annotations of that category count, so "the dog" is never ambiguous), with a mask
  covering at least `min_area_fraction` of the image (default 1%).
- Questions: one per target, from the templates of its COCO supercategory (action and
  clothing for people, action for animals, colour, material, state, orientation, position);
  none asks to count, and none names another object.
- Cap: at most `max_questions_per_image` targets per image (default 3), drawn at random by a
  generator seeded with (seed, image id), so a seed gives the same rows whatever `limit` is.
- Images without a valid target are skipped and counted.

Boxes are COCO's `bbox`; masks are COCO's segmentation as compressed RLE; `area` is the
mask's pixel count (COCO's own `area` is the polygon area).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from pycocotools import mask as mask_utils

from pixelshap_eval.coco_masks import segmentation_rle
from pixelshap_eval.data.cards import EVALUATION_SPLIT, BuiltSet, CardText, render_card
from pixelshap_eval.data.checks import Problems, box_problem, confined_path, decode_image
from pixelshap_eval.data.schema import OBJECT_IMPORTANCE_FEATURES
from pixelshap_eval.data.staging import stream_rows

ACTION = ("action", "What is the {name} doing?")
CLOTHING = ("clothing", "What is the {name} wearing?")
COLOR = ("color", "What color is the {name}?")
MATERIAL = ("material", "What is the {name} made of?")
STATE = ("state", "Is the {name} whole, sliced or partly eaten?")
ORIENTATION = ("orientation", "Which way is the {name} facing?")
POSITION = ("position", "Is the {name} on the left, in the middle or on the right of the picture?")

QUESTION_TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "person": (ACTION, CLOTHING, POSITION),
    "animal": (ACTION, COLOR, POSITION),
    "vehicle": (COLOR, ORIENTATION, POSITION),
    "outdoor": (COLOR, POSITION),
    "accessory": (COLOR, MATERIAL, POSITION),
    "sports": (COLOR, POSITION),
    "kitchen": (COLOR, MATERIAL, POSITION),
    "food": (COLOR, STATE, POSITION),
    "furniture": (COLOR, MATERIAL, POSITION),
    "electronic": (COLOR, POSITION),
    "appliance": (COLOR, MATERIAL, POSITION),
    "indoor": (COLOR, POSITION),
}
DEFAULT_TEMPLATES = (COLOR, POSITION)  # supercategories outside COCO's twelve
GENERATED = "generated"  # question_type of questions written by a chat model

# COCO 2017's licence table, used for the card only when the source file lists none
# (the licence ids of the images are COCO's in every release).
COCO_2017_LICENSES: tuple[dict[str, Any], ...] = (
    {
        "id": 1,
        "name": "Attribution-NonCommercial-ShareAlike License",
        "url": "http://creativecommons.org/licenses/by-nc-sa/2.0/",
    },
    {"id": 2, "name": "Attribution-NonCommercial License", "url": "http://creativecommons.org/licenses/by-nc/2.0/"},
    {
        "id": 3,
        "name": "Attribution-NonCommercial-NoDerivs License",
        "url": "http://creativecommons.org/licenses/by-nc-nd/2.0/",
    },
    {"id": 4, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"},
    {"id": 5, "name": "Attribution-ShareAlike License", "url": "http://creativecommons.org/licenses/by-sa/2.0/"},
    {"id": 6, "name": "Attribution-NoDerivs License", "url": "http://creativecommons.org/licenses/by-nd/2.0/"},
    {"id": 7, "name": "No known copyright restrictions", "url": "http://flickr.com/commons/usage/"},
    {"id": 8, "name": "United States Government Work", "url": "http://www.usa.gov/copyright.shtml"},
)
NO_LICENSE = 0  # `license` of an image whose source entry has none


@dataclass(frozen=True)
class CocoSelection:
    """The documented rules that turn annotations into questions."""

    min_area_fraction: float = 0.01
    max_questions_per_image: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_area_fraction < 1.0:
            raise ValueError(f"min_area_fraction must lie in [0, 1), got {self.min_area_fraction}")
        if self.max_questions_per_image < 1:
            raise ValueError(f"max_questions_per_image must be at least 1, got {self.max_questions_per_image}")


@dataclass(frozen=True)
class QuestionRequest:
    """What a question writer (e.g. a chat model) is told about one target."""

    image_bytes: bytes
    image_file: str
    width: int
    height: int
    target_name: str
    target_supercategory: str
    target_box: tuple[float, float, float, float]
    other_names: tuple[str, ...]


QuestionWriter = Callable[[QuestionRequest], str]


@dataclass(frozen=True)
class CocoSource:
    """A validated COCO instances file."""

    path: Path
    images: list[dict]
    annotations_by_image: dict[int, list[dict]]
    categories: dict[int, dict]
    licenses: list[dict[str, Any]]


def load_coco_instances(path: Path, problems: Problems | None = None) -> CocoSource:
    """Read and check a COCO instances JSON. A broken file is one ValueError; a bad image entry or
    annotation is refused or, with `problems.skip`, dropped and counted (an image with a bad
    annotation is dropped whole, so no row ever has an incomplete set of players)."""
    problems = problems or Problems()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotations file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); pass a COCO instances_*.json file") from error
    required = ("images", "annotations", "categories")
    missing = [key for key in required if not isinstance(data, dict) or not isinstance(data.get(key), list)]
    if missing:
        raise ValueError(f"{path} is not a COCO instances file: no list {missing}")
    categories = {int(category["id"]): category for category in data["categories"]}
    images = _valid_image_entries(path, data["images"], problems)
    image_ids = {int(image["id"]) for image in images}
    by_image: dict[int, list[dict]] = {image_id: [] for image_id in image_ids}
    bad_images: set[int] = set()
    annotation_ids = Counter(annotation.get("id") for annotation in data["annotations"] if isinstance(annotation, dict))
    sizes = {int(image["id"]): (int(image["width"]), int(image["height"])) for image in images}
    for annotation in data["annotations"]:
        image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
        if image_id not in image_ids:
            problems.found(
                "annotation of an unknown image", f"{path}: annotation {_id_of(annotation)} (image_id {image_id!r})",
                "give it the id of one of the file's images or remove it",
            )
            continue
        problem = _annotation_problem(annotation, categories, sizes[image_id], annotation_ids)
        if problem:
            kind, detail = problem
            problems.found(kind, f"{path}: annotation {_id_of(annotation)} of image {image_id}", f"{detail}; fix or remove the annotation")
            bad_images.add(image_id)
            continue
        by_image[image_id].append(annotation)
    images = [image for image in images if int(image["id"]) not in bad_images]
    return CocoSource(path, images, by_image, categories, list(data.get("licenses") or []))


def _id_of(entry: object) -> object:
    return entry.get("id") if isinstance(entry, dict) else entry


def _valid_image_entries(path: Path, entries: list, problems: Problems) -> list[dict]:
    """Image entries with an integer id, a file name and a positive size, each id once."""
    valid = []
    for entry in entries:
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("file_name"), str)
            and all(isinstance(entry.get(key), int) and not isinstance(entry.get(key), bool) and entry[key] > 0 for key in ("width", "height"))
        )
        if ok:
            valid.append(entry)
        else:
            problems.found(
                "image entry without an integer id, a file_name and a positive width and height",
                f"{path}: image {_id_of(entry)!r}", "complete the entry",
            )
    by_id: dict[int, list[dict]] = {}
    for entry in valid:
        by_id.setdefault(entry["id"], []).append(entry)
    kept = []
    for image_id, group in by_id.items():
        names = sorted({entry["file_name"] for entry in group})
        if len(names) > 1:  # whose annotations are whose cannot be told: neither is kept
            problems.found("image id shared by different files", f"{path}: image id {image_id} ({', '.join(names)})", "give each file its own id")
            continue
        if len(group) > 1:
            problems.found("image listed twice", f"{path}: image id {image_id} ({names[0]}, {len(group)} entries)", "remove the repeated entries")
        kept.append(group[0])
    return kept


def _annotation_problem(annotation: object, categories: dict[int, dict], size: tuple[int, int], ids: Counter) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with one annotation, or None."""
    if not isinstance(annotation, dict) or not isinstance(annotation.get("id"), int):
        return "annotation without an integer id", "give it a unique integer id"
    if ids[annotation["id"]] > 1:
        return "annotation id repeated", f"id {annotation['id']} appears {ids[annotation['id']]} times"
    if annotation.get("category_id") not in categories:
        return "annotation of an unknown category", f"category_id {annotation.get('category_id')!r} is not among the file's categories {sorted(categories)}"
    if "bbox" not in annotation:
        return "annotation without a bbox", "it has no bbox"
    width, height = size
    box = box_problem(annotation["bbox"], width, height)
    if box:
        return "annotation with an invalid bbox", box
    segmentation = annotation.get("segmentation")
    if isinstance(segmentation, list):
        for polygon in segmentation:
            if not isinstance(polygon, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in polygon):
                return "annotation with an invalid polygon", "a polygon is not a list of finite numbers"
            if len(polygon) % 2 or len(polygon) < 6:
                return "annotation with an invalid polygon", f"a polygon has {len(polygon)} coordinates; it needs an even number, at least 6 (3 points)"
    elif isinstance(segmentation, dict):
        if list(segmentation.get("size") or []) != [height, width]:
            return "annotation with an invalid RLE", f"its RLE size {segmentation.get('size')!r} is not the image's [{height}, {width}]"
    else:
        return "annotation without a segmentation", "segmentation is neither polygons nor RLE"
    return None


def object_record(annotation: dict, category: dict, height: int, width: int) -> dict:
    """One object in the row format of `schema.OBJECT`."""
    rle = segmentation_rle(annotation.get("segmentation"), height, width, f"annotation {annotation.get('id')}")
    return {
        "id": int(annotation["id"]),
        "category": category["name"],
        "supercategory": category.get("supercategory", ""),
        "box": [float(v) for v in annotation["bbox"]],
        "mask_rle": rle["counts"].decode("ascii"),
        "area": float(mask_utils.area(rle)),
    }


def valid_target_indices(
    annotations: list[dict], objects: list[dict], image_area: int, min_area_fraction: float
) -> list[int]:
    """Indices into `objects` (the non-crowd annotations, in order) of the valid targets."""
    per_category = Counter(annotation["category_id"] for annotation in annotations)
    non_crowd = [annotation for annotation in annotations if not annotation.get("iscrowd", 0)]
    return [
        index
        for index, (annotation, obj) in enumerate(zip(non_crowd, objects))
        if per_category[annotation["category_id"]] == 1 and obj["area"] >= min_area_fraction * image_area
    ]


def template_question(name: str, supercategory: str, rng: np.random.Generator) -> tuple[str, str]:
    """(question, question_type) drawn from the templates of the target's supercategory."""
    templates = QUESTION_TEMPLATES.get(supercategory, DEFAULT_TEMPLATES)
    question_type, template = templates[int(rng.integers(len(templates)))]
    return template.format(name=name), question_type


def infer_split(annotations: Path, images: Path) -> str:
    """The source split: `val2017` from `instances_val2017.json`, else the image folder's name."""
    match = re.fullmatch(r"instances_(.+)\.json", Path(annotations).name)
    return match.group(1) if match else Path(images).resolve().name


SELECTION_COUNTS = (
    "annotations",
    "crowd annotations (not players)",
    "valid targets",
    "images skipped (no valid target)",
)


@dataclass
class PlannedImage:
    """One image that yields rows: its entry, its players, the chosen targets, and the seeded
    generator that then also draws the templates."""

    image: dict
    objects: list[dict]
    targets: list[int]
    rng: np.random.Generator


def plan_targets(
    source: CocoSource, images: Iterable[dict], selection: CocoSelection, stats: Counter
) -> Iterator[PlannedImage]:
    """Players and chosen targets of each image with a valid target, one image at a time (so that
    only one image's masks are held); adds the selection counts to `stats` as it goes."""
    for name in SELECTION_COUNTS:
        stats.setdefault(name, 0)
    for image in images:
        height, width = int(image["height"]), int(image["width"])
        annotations = source.annotations_by_image[int(image["id"])]
        non_crowd = [a for a in annotations if not a.get("iscrowd", 0)]
        objects = [object_record(a, source.categories[a["category_id"]], height, width) for a in non_crowd]
        valid = valid_target_indices(annotations, objects, height * width, selection.min_area_fraction)
        stats["annotations"] += len(annotations)
        stats["crowd annotations (not players)"] += len(annotations) - len(non_crowd)
        stats["valid targets"] += len(valid)
        if not valid:
            stats["images skipped (no valid target)"] += 1
            continue
        rng = np.random.default_rng([selection.seed, int(image["id"])])
        targets = [valid[i] for i in rng.permutation(len(valid))[: selection.max_questions_per_image]]
        yield PlannedImage(image, objects, targets, rng)


@dataclass
class RowTally:
    """What the card and the summary count about the rows, kept while they stream to disk."""

    rows: int = 0
    images: int = 0
    by_type: Counter = field(default_factory=Counter)
    by_supercategory: Counter = field(default_factory=Counter)
    licenses: set[int] = field(default_factory=set)

    def add(self, row: dict) -> None:
        self.rows += 1
        self.by_type[row["question_type"]] += 1
        self.by_supercategory[row["target"]["supercategory"]] += 1
        self.licenses.add(row["license"])


def build_coco_set(
    annotations: Path,
    images: Path,
    selection: CocoSelection = CocoSelection(),
    limit: int | None = None,
    split: str | None = None,
    question_writer: QuestionWriter | None = None,
    skip_invalid: bool = False,
) -> BuiltSet:
    """Build the object-importance set from a COCO instances file and its image folder.

    `limit` keeps the first `limit` images of the file (a fast path for tests and trials);
    `question_writer` replaces the templates (e.g. `openai_questions.ChatQuestionWriter`).
    Every image is decoded fully and every annotation validated (`checks`): a problem is refused
    with one message, or with `skip_invalid` its image is skipped and counted in the summary
    and the card. Rows stream to a staging file as they are made (`staging`), so memory holds
    the annotations and one image at a time, whatever the number of images.
    """
    images = Path(images)
    if not images.is_dir():
        raise FileNotFoundError(f"image folder not found: {images}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    problems = Problems(skip=skip_invalid)
    source = load_coco_instances(annotations, problems)
    split = split or infer_split(source.path, images)
    considered = source.images[:limit] if limit else source.images
    located = _located_images(source, considered, images, problems)
    files = {int(image["id"]): path for image, path in located}
    stats: Counter = Counter()
    tally = RowTally()
    planned = plan_targets(source, [image for image, _ in located], selection, stats)
    rows = _rows(planned, files, split, question_writer, problems, tally)
    dataset = DatasetDict({EVALUATION_SPLIT: stream_rows(rows, OBJECT_IMPORTANCE_FEATURES)})
    if not tally.rows:
        raise ValueError(
            f"no image of {source.path} has a valid target (unique in its category, not crowd, at least "
            f"{selection.min_area_fraction:.1%} of the image); lower min_area_fraction or use more images"
        )

    counts = {
        "rows": tally.rows,
        "images in file": len(source.images),
        "images considered": len(considered),
        "images with questions": tally.images,
        **dict(stats),
        **problems.summary(),
        "questions by type": dict(tally.by_type),
        "questions by target supercategory": dict(tally.by_supercategory),
    }
    card = render_card(
        _card_text(source, split, selection, question_writer is not None, sorted(tally.licenses)),
        OBJECT_IMPORTANCE_FEATURES,
        counts,
    )
    return BuiltSet(name="coco", dataset=dataset, card=card, stats=counts)


def _rows(
    planned: Iterable[PlannedImage],
    files: dict[int, Path],
    split: str,
    question_writer: QuestionWriter | None,
    problems: Problems,
    tally: RowTally,
) -> Iterator[dict]:
    """The rows of the planned images, one image's file in memory at a time, counted in `tally`."""
    for plan in planned:
        image_bytes = _decoded_bytes(files[int(plan.image["id"])], plan.image, problems)
        if image_bytes is None:
            continue
        tally.images += 1
        for target_index in plan.targets:
            question, question_type = _question(plan, target_index, image_bytes, question_writer)
            row = _row(plan, target_index, question, question_type, image_bytes, split)
            tally.add(row)
            yield row


def _located_images(source: CocoSource, entries: list[dict], folder: Path, problems: Problems) -> list[tuple[dict, Path]]:
    """Each image entry with its file inside `folder`; a missing file or a name that leaves the folder is a problem."""
    located, missing = [], []
    for entry in entries:
        path = confined_path(folder, entry["file_name"])
        if path is None:
            problems.found("file_name outside the image folder", f"{source.path}: image {entry['id']} ({entry['file_name']!r})",
                           "use a path relative to the image folder")
        elif not path.is_file():
            missing.append(entry["file_name"])
        else:
            located.append((entry, path))
    if missing and not problems.skip:
        raise FileNotFoundError(
            f"{len(missing)} image file(s) named in {source.path} are not in {folder}, e.g. {missing[:3]}; "
            "pass the image folder of the same split, or pass --skip-invalid to skip and count them"
        )
    problems.counts["image file missing"] += len(missing)
    if not missing:
        del problems.counts["image file missing"]
    return located


def _decoded_bytes(path: Path, entry: dict, problems: Problems) -> bytes | None:
    """The file's bytes once it has decoded fully at the size its entry states, else None (skipped)."""
    try:
        decoded = decode_image(path)
    except ValueError as error:
        problems.found("image that does not decode", f"image {path}", str(error))
        return None
    if (decoded.width, decoded.height) != (int(entry["width"]), int(entry["height"])):
        problems.found(
            "image whose size differs from its entry",
            f"{path} is {decoded.width}x{decoded.height} but its annotations say {entry['width']}x{entry['height']}",
            "the image folder does not match the annotations file",
        )
        return None
    return decoded.data


def _question(
    plan: PlannedImage, target_index: int, image_bytes: bytes, question_writer: QuestionWriter | None
) -> tuple[str, str]:
    target = plan.objects[target_index]
    if question_writer is None:
        return template_question(target["category"], target["supercategory"], plan.rng)
    request = QuestionRequest(
        image_bytes=image_bytes,
        image_file=plan.image["file_name"],
        width=int(plan.image["width"]),
        height=int(plan.image["height"]),
        target_name=target["category"],
        target_supercategory=target["supercategory"],
        target_box=tuple(target["box"]),
        other_names=tuple(obj["category"] for i, obj in enumerate(plan.objects) if i != target_index),
    )
    return question_writer(request), GENERATED


def _row(
    plan: PlannedImage, target_index: int, question: str, question_type: str, image_bytes: bytes, split: str
) -> dict:
    image, target = plan.image, plan.objects[target_index]
    return {
        "question_id": f"coco-{split}-{image['id']}-{target['id']}",
        "image": {"bytes": image_bytes, "path": image["file_name"]},
        "image_id": int(image["id"]),
        "width": int(image["width"]),
        "height": int(image["height"]),
        "question": question,
        "question_type": question_type,
        "answer": "",
        "target_index": target_index,
        "target": target,
        "objects": plan.objects,
        "source": f"coco/{split}",
        "license": int(image.get("license", NO_LICENSE)),
    }


def _card_text(
    source: CocoSource, split: str, selection: CocoSelection, generated: bool, used_licenses: list[int]
) -> CardText:
    from_file = bool(source.licenses)
    table = {int(entry["id"]): entry for entry in (source.licenses or COCO_2017_LICENSES)}
    licence_lines = [
        f"- {license_id}: [{table[license_id]['name']}]({table[license_id]['url']})"
        if license_id in table
        else f"- {license_id}: not listed"
        for license_id in used_licenses
    ]
    where = (
        "the source file's `licenses` list" if from_file else "COCO 2017's licence table (the source file lists none)"
    )
    kinds = {kind: text for templates in QUESTION_TEMPLATES.values() for kind, text in templates}
    questions = (
        "written by a chat model from the image and the target's name and box (`question_type` = `generated`)."
        if generated
        else "filled in from one template drawn per target by the seeded generator. Templates: "
        + "; ".join(f'{kind} "{text}"' for kind, text in kinds.items())
        + ". Kinds by supercategory: "
        + "; ".join(
            f"{name}: {', '.join(kind for kind, _ in templates)}" for name, templates in QUESTION_TEMPLATES.items()
        )
        + f"; any other: {', '.join(kind for kind, _ in DEFAULT_TEMPLATES)}."
    )
    return CardText(
        pretty_name=f"PixelSHAP object importance (COCO {split})",
        license="other",
        summary=(
            "Each row asks a question about an image that can be answered only by looking at one "
            "object, the target; every annotated object of the image is a player. An attribution "
            "method is scored by whether it ranks the target first (Recall@K, IoU@1)."
        ),
        provenance=(
            f"Built by `pixelshap-eval build coco` from `{source.path.name}` (MS COCO instance annotations, "
            f"split `{split}`) and its images. Boxes and masks are COCO's own; the images are stored as the "
            "original JPEG bytes."
        ),
        licences=(
            "COCO annotations are licensed CC BY 4.0 (cocodataset.org/#termsofuse). The images are Flickr "
            f"photos under the licence of each image (`license` column, names from {where}); "
            f"{NO_LICENSE} means the source gave none. Licences of the images in this set:\n\n"
            + "\n".join(licence_lines)
        ),
        selection=(
            "- Players: every non-crowd annotation of the image, in file order; crowd annotations are "
            "neither players nor targets.\n"
            "- Target: non-crowd, the only annotation of its category in the image (crowd ones count), mask at "
            f"least {selection.min_area_fraction:.1%} of the image.\n"
            f"- At most {selection.max_questions_per_image} questions per image; targets drawn at random with "
            f"seed {selection.seed} and the image id.\n"
            f"- Questions are count-free and name only the target, {questions}\n"
            "- Images with no valid target are skipped (counted below)."
        ),
        fields={
            "question_id": "`coco-<split>-<image id>-<target annotation id>`",
            "image": "the original JPEG",
            "image_id": "COCO image id",
            "question": "asks about the target only",
            "question_type": "template kind, or `generated`",
            "answer": "empty: COCO has no gold answer; the model's answer on the full image is the reference",
            "target_index": "index of the target in `objects`",
            "target": "the target object: COCO annotation id, category, supercategory, bbox x,y,w,h, RLE mask counts, mask pixel area",
            "objects": "every non-crowd object of the image (the players), same fields",
            "source": "`coco/<split>`",
            "license": "COCO licence id of the image",
        },
    )
