"""`pixelshap-eval build SET ... --out DIR`: build one dataset, save it with its card, and
optionally publish it to the Hugging Face Hub.

Each set is one sub-subcommand: a function `_add_<set>(sets)` that adds the set's own
arguments and sets `build=<callable(args) -> BuiltSet>`, listed in `SET_PARSERS`. Output
arguments (--out, --overwrite, --push-to-hub), saving and error reporting are shared.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pixelshap_eval.data.attention import build_attention_set
from pixelshap_eval.data.cards import BuiltSet, check_output_folder
from pixelshap_eval.data.checks import check_output_location
from pixelshap_eval.data.coco import CocoSelection, build_coco_set
from pixelshap_eval.data.coco_release import (
    ANNOTATIONS_URL_ENV,
    CACHE_ENV,
    IMAGES_URL_ENV,
    SPLITS,
    default_cache_dir,
    fetch_coco,
)
from pixelshap_eval.data.human import build_human_set
from pixelshap_eval.data.locate import DATA_DIR_ENV
from pixelshap_eval.data.openai_questions import (
    DEFAULT_BASE_URL,
    ChatEndpoint,
    ChatQuestionWriter,
    MissingAPIKeyError,
    QuestionGenerationError,
)
from pixelshap_eval.data.photos import DEFAULT_QUESTION, PHOTOS, build_photos_set
from pixelshap_eval.data.synth import QUESTION_TYPES, build_synth_set

BUILD_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, ValueError, MissingAPIKeyError, QuestionGenerationError)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build a dataset (coco, human, attention, synth, photos) into a folder",
        description=f"Build one dataset into --out; the tasks find it at ${DATA_DIR_ENV}/<set>.",
    )
    sets = parser.add_subparsers(dest="set_name", metavar="SET", required=True)
    for add_set in SET_PARSERS:
        _add_output_arguments(add_set(sets))
    parser.set_defaults(run=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Build, save and (optionally) push; a bad input prints one error line and returns 2."""
    try:
        check_output_location(args.out)  # before any work: a bad --out must not cost a whole build
        check_output_folder(args.out, args.overwrite)
        built: BuiltSet = args.build(args)
        out = built.save(args.out, overwrite=args.overwrite)
        if args.push_to_hub:
            built.push_to_hub(args.push_to_hub)
    except BUILD_ERRORS as error:
        print(f"pixelshap-eval build {args.set_name}: {error}", file=sys.stderr)
        return 2
    print(f"built {built.name}: {built.stats['rows']} rows -> {out}")
    for name, value in built.stats.items():
        if name != "rows" and not isinstance(value, dict):
            print(f"  {name}: {value}")
    if args.push_to_hub:
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, help=f"output folder, e.g. ${DATA_DIR_ENV}/{parser.prog.split()[-1]}"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out when it already holds a built set")
    parser.add_argument(
        "--push-to-hub", metavar="REPO_ID", help="also upload the set and its card to this Hub dataset repo"
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_coco(sets: argparse._SubParsersAction) -> argparse.ArgumentParser:
    defaults = CocoSelection()
    parser = sets.add_parser(
        "coco",
        help="object-importance set from COCO instance annotations",
        description="Questions that only one target object of the image answers, from a COCO instances JSON.",
    )
    parser.add_argument("--annotations", type=Path, help="COCO instances JSON, e.g. instances_val2017.json")
    parser.add_argument("--images", type=Path, help="the folder of that split's images")
    parser.add_argument(
        "--split", help="source split name (default: from the annotations file name; with --download: val2017)"
    )
    download = parser.add_argument_group("official release (instead of --annotations and --images)")
    download.add_argument(
        "--download", action="store_true",
        help=f"fetch COCO 2017 (annotations + the --split's images: {', '.join(SPLITS)}) from images.cocodataset.org, "
        "verified, resumable, cached",
    )
    download.add_argument(
        "--cache-dir", type=Path, help=f"where the archives are kept (default: ${CACHE_ENV}/coco or ~/.cache/pixelshap-eval/coco)"
    )
    download.add_argument("--annotations-url", help=f"annotation archive URL, e.g. a mirror (default: ${ANNOTATIONS_URL_ENV} or the official one)")
    download.add_argument("--images-url", help=f"image archive URL (default: ${IMAGES_URL_ENV} or the official one)")
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="seed of target and template choice (default: %(default)s)"
    )
    parser.add_argument(
        "--max-questions-per-image",
        type=_positive_int,
        default=defaults.max_questions_per_image,
        help="at most this many questions per image (default: %(default)s)",
    )
    parser.add_argument(
        "--min-area-fraction",
        type=float,
        default=defaults.min_area_fraction,
        help="smallest target mask, as a fraction of the image (default: %(default)s)",
    )
    parser.add_argument("--limit", type=_positive_int, help="use only the first LIMIT images of the file")
    parser.add_argument(
        "--openai-questions", action="store_true", help="have an OpenAI-compatible chat model write the questions"
    )
    parser.add_argument("--openai-model", default=ChatEndpoint.model, help="chat model (default: %(default)s)")
    parser.add_argument(
        "--openai-base-url",
        default=os.environ.get("OPENAI_BASE_URL", DEFAULT_BASE_URL),
        help="endpoint (default: $OPENAI_BASE_URL or %(default)s)",
    )
    parser.add_argument(
        "--openai-api-key-env",
        default=ChatEndpoint.api_key_env,
        help="environment variable holding the key (default: %(default)s)",
    )
    _add_skip_invalid(parser)
    parser.set_defaults(build=_build_coco)
    return parser


def _add_skip_invalid(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-invalid", action="store_true",
        help="skip bad input (unreadable images, invalid annotations, ...) and count it in the summary and the card, "
        "instead of stopping at the first problem (the default)",
    )


def _build_coco(args: argparse.Namespace) -> BuiltSet:
    writer = None
    if args.openai_questions:
        endpoint = ChatEndpoint(
            model=args.openai_model, base_url=args.openai_base_url, api_key_env=args.openai_api_key_env, seed=args.seed
        )
        writer = ChatQuestionWriter(endpoint)
    selection = CocoSelection(args.min_area_fraction, args.max_questions_per_image, args.seed)
    annotations, images, split = _coco_inputs(args)
    return build_coco_set(
        annotations, images, selection, limit=args.limit, split=split, question_writer=writer,
        skip_invalid=args.skip_invalid,
    )


def _coco_inputs(args: argparse.Namespace) -> tuple[Path, Path, str | None]:
    """(annotations file, image folder, split): the ones given, or the downloaded release's."""
    if not args.download:
        if args.annotations is None or args.images is None:
            raise ValueError("pass --annotations FILE and --images DIR, or --download to fetch COCO 2017")
        return args.annotations, args.images, args.split
    if args.annotations is not None or args.images is not None:
        raise ValueError("--download fetches the annotations and images itself: drop --annotations and --images")
    split = args.split or "val2017"
    files = fetch_coco(args.cache_dir or default_cache_dir(), split, args.annotations_url, args.images_url)
    return files.annotations, files.images, split


def _add_human(sets: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sets.add_parser(
        "human",
        help="human plausibility set from the Patchwise human responses",
        description="Rows of the Patchwise human-response release: image, object, the people's top-3 grid cells.",
    )
    parser.add_argument("--annotations", type=Path, required=True, help="Human_Annotations.txt")
    parser.add_argument("--images", type=Path, required=True, help="the release's image folder")
    parser.add_argument("--limit", type=_positive_int, help="use only the first LIMIT rows of the file")
    _add_skip_invalid(parser)
    parser.set_defaults(build=lambda args: build_human_set(args.annotations, args.images, limit=args.limit, skip_invalid=args.skip_invalid))
    return parser


def _add_attention(sets: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sets.add_parser(
        "attention",
        help="human-attention set from image + question + grayscale map (VQA-HAT style)",
        description="JSON Lines manifest, one row per line: image, question, map (paths relative to the manifest), optional answer and question_id.",
    )
    parser.add_argument("--manifest", type=Path, required=True, help="JSON Lines manifest")
    parser.add_argument(
        "--source", help="name of the origin, for the card and the source column (default: the manifest's name)"
    )
    parser.add_argument("--license", default="other", help="Hub licence id of the set (default: %(default)s)")
    _add_skip_invalid(parser)
    parser.set_defaults(
        build=lambda args: build_attention_set(args.manifest, source=args.source, license_id=args.license, skip_invalid=args.skip_invalid)
    )
    return parser


def _add_photos(sets: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sets.add_parser("photos", help="real photos shipped inside scikit-image/scikit-learn (for the demo)")
    parser.add_argument("--names", nargs="+", default=list(PHOTOS), choices=sorted(PHOTOS), help="photos to include")
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="the question asked of every photo")
    parser.set_defaults(build=lambda args: build_photos_set(tuple(args.names), args.question))
    return parser


def _add_synth(sets: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sets.add_parser("synth", help="generated scenes whose answer depends on one object (the toy model's set)")
    parser.add_argument("--n", type=_positive_int, default=100, help="scenes per question type (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    parser.add_argument("--question-types", nargs="+", choices=QUESTION_TYPES, default=list(QUESTION_TYPES))
    parser.set_defaults(build=lambda args: build_synth_set(args.n, args.seed, args.question_types))
    return parser


SET_PARSERS: tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser], ...] = (
    _add_coco,
    _add_human,
    _add_attention,
    _add_synth,
    _add_photos,
)
