"""The official COCO 2017 release, fetched into a cache: what `build coco --download` reads.

Two archives: the annotations (`annotations_trainval2017.zip`, both splits' instances files)
and one split's images (`val2017.zip` or `train2017.zip`) from images.cocodataset.org. Their
sizes are the servers' Content-Length; their SHA-1s are the ones GluonCV's COCO download
script has checked every download against since 2018 (cocodataset.org publishes none). An
archive from another URL (`--annotations-url`, `--images-url` or the environment variables
below) is checked against the table only when it has the official file name (a mirror), else
by its Content-Length and zip CRCs. Only the split's members are extracted, once per archive
and split.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pixelshap_eval.data.download import Archive, DownloadError, fetch

ANNOTATIONS_URL_ENV = "PIXELSHAP_COCO_ANNOTATIONS_URL"
IMAGES_URL_ENV = "PIXELSHAP_COCO_IMAGES_URL"
CACHE_ENV = "PIXELSHAP_CACHE_DIR"
OFFICIAL: dict[str, Archive] = {
    archive.name: archive
    for archive in (
        Archive(
            "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
            252_907_541,
            "8551ee4bb5860311e79dace7e79cb91e432e78b3",
        ),
        Archive("http://images.cocodataset.org/zips/val2017.zip", 815_585_330, "4950dc9d00dbe1c933ee0170f5797584351d2a41"),
        Archive(
            "http://images.cocodataset.org/zips/train2017.zip", 19_336_861_798, "10ad623668ab00c62c096f0ed636d6aff41faca5"
        ),
    )
}
SPLITS = ("val2017", "train2017")


@dataclass(frozen=True)
class CocoFiles:
    """An extracted split: its instances file and its image folder."""

    annotations: Path
    images: Path


def default_cache_dir() -> Path:
    """`$PIXELSHAP_CACHE_DIR/coco`, else `$XDG_CACHE_HOME/pixelshap-eval/coco` (~/.cache by default)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "coco"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pixelshap-eval" / "coco"


def archive_for(url: str) -> Archive:
    """The archive at `url`, with the official size and SHA-1 when it has an official file name."""
    known = OFFICIAL.get(Archive(url).name)
    return Archive(url, known.size, known.sha1) if known else Archive(url)


def fetch_coco(
    cache_dir: Path,
    split: str = "val2017",
    annotations_url: str | None = None,
    images_url: str | None = None,
    progress: bool = True,
) -> CocoFiles:
    """Download (or find in `cache_dir`) the annotations and the images of `split`; extract them."""
    if split not in SPLITS:
        raise ValueError(f"--download fetches one of the splits {', '.join(SPLITS)}, not {split!r}; pass --split val2017")
    annotations_url = annotations_url or os.environ.get(ANNOTATIONS_URL_ENV) or OFFICIAL["annotations_trainval2017.zip"].url
    images_url = images_url or os.environ.get(IMAGES_URL_ENV) or OFFICIAL[f"{split}.zip"].url
    cache_dir = Path(cache_dir)
    archives = cache_dir / "archives"
    annotation_zip = fetch(archive_for(annotations_url), archives, progress)
    image_zip = fetch(archive_for(images_url), archives, progress)
    member = f"annotations/instances_{split}.json"
    annotations = extract(annotation_zip, member, cache_dir / "extracted" / split / annotation_zip.stem)
    images = extract(image_zip, f"{split}/", cache_dir / "extracted" / split / image_zip.stem)
    return CocoFiles(annotations / member, images / split)


def extract(archive: Path, prefix: str, folder: Path) -> Path:
    """The members of `archive` whose names start with `prefix`, extracted into `folder` once
    (a `.complete` note beside it records the archive file and the prefix); `folder`."""
    note = folder.with_name(f"{folder.name}.complete")
    stat = archive.stat()
    identity = {"archive": archive.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "prefix": prefix}
    if folder.is_dir() and note.is_file() and json.loads(note.read_text()) == identity:
        return folder
    partial = folder.with_name(f"{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        names = [name for name in zipped.namelist() if name.startswith(prefix) and not name.endswith("/")]
        if not names:
            raise DownloadError(
                f"{archive} holds no {prefix} (a COCO 2017 archive would); check the URL, or delete "
                f"{archive} to download it again"
            )
        for name in names:
            zipped.extract(name, partial)  # zipfile drops '..' and absolute parts: all stays inside
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    note.write_text(json.dumps(identity) + "\n")
    return folder
