"""Build-time checks shared by every builder: bad input is refused or skipped and counted.

A dataset built from bad input looks normal and scores wrong (a truncated JPEG becomes a mostly
grey image, a box outside the image a player nobody can see), so every builder decodes every
image fully and validates every annotation while it builds. Each problem is, by the user's
choice, refused with one message that names the item and the fix (the default), or skipped and
counted under its kind in the build summary and the dataset card (`--skip-invalid`). Paths named
by an input file are confined to the image folder.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageFile

# images above this many pixels are refused before decoding (PIL's own decompression-bomb limit)
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 178_956_970
SKIP_HINT = "or pass --skip-invalid to skip such items and count them"
BOX_TOLERANCE = 1.0  # pixels a box may exceed the image by (COCO boxes are rounded floats)


class InvalidInput(ValueError):
    """One bad input item, refused: the message names it and the fix."""


@dataclass
class Problems:
    """The bad inputs a build met: refused at the first one, or (skip=True) counted by kind."""

    skip: bool = False
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def found(self, kind: str, where: str, fix: str) -> None:
        """Record one problem: raise `InvalidInput` unless skipping, else count it."""
        if not self.skip:
            raise InvalidInput(f"{where}: {kind}; {fix}, {SKIP_HINT}")
        self.counts[kind] += 1
        self.examples.setdefault(kind, where)

    def summary(self) -> dict[str, int]:
        """Build-summary entries: how many items of each kind were skipped."""
        return {f"skipped (invalid input): {kind}": n for kind, n in sorted(self.counts.items())}


def confined_path(folder: Path, name: object) -> Path | None:
    """`folder/name` if `name` is a relative path that stays inside `folder`, else None."""
    if not isinstance(name, str) or not name or os.path.isabs(name):
        return None
    root = Path(folder).resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) and path != root else None


@dataclass(frozen=True)
class DecodedImage:
    """An image file that decoded completely: its bytes (stored as they are) and size."""

    data: bytes
    width: int
    height: int


def decode_image(path: Path) -> DecodedImage:
    """Read and fully decode an image; ValueError saying what is wrong with it otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read it ({error.strerror or error})") from None
    if not data:
        raise ValueError("the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ValueError(
                        f"it is {width}x{height} = {width * height / 1e6:.0f} Mpx, above the {MAX_PIXELS / 1e6:.0f} Mpx "
                        "limit (a decompression bomb?); downscale it"
                    )
                _load_strictly(image)
    except Image.DecompressionBombError as error:
        raise ValueError(f"it is too large to decode safely ({error}); downscale it") from None
    except (OSError, SyntaxError, Image.UnidentifiedImageError) as error:
        raise ValueError(f"it does not decode as an image ({error}); replace it with a complete copy") from None
    return DecodedImage(data, width, height)


def _load_strictly(image: Image.Image) -> None:
    """Decode every pixel; a truncated file fails even where a library has set PIL's global
    LOAD_TRUNCATED_IMAGES (some do, at import time, so that they read broken images grey)."""
    tolerant = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        image.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = tolerant


def box_problem(box: object, width: int, height: int) -> str | None:
    """What is wrong with an x, y, w, h box on a width x height image, or None."""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return f"bbox {box!r} is not 4 numbers x, y, w, h"
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bbox {list(box)} has a non-finite value"
    if w <= 0 or h <= 0:
        return f"bbox {list(box)} has zero or negative size"
    if x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > width + BOX_TOLERANCE or y + h > height + BOX_TOLERANCE:
        return f"bbox {list(box)} lies outside the {width}x{height} image"
    return None


def check_output_location(out: Path) -> None:
    """Fail before a long build when `out` cannot be created or written."""
    out = Path(out)
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise FileExistsError(f"--out {out} lies below the file {ancestor}; choose a folder path")
    try:
        probe = tempfile.mkdtemp(prefix=".pixelshap-write-check-", dir=ancestor)
    except OSError as error:
        raise PermissionError(f"--out {out}: cannot write in {ancestor} ({error.strerror or error}); choose a writable place") from None
    os.rmdir(probe)
