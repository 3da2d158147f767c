"""Download one archive into a cache folder: resumable, verified, fetched once.

Standard library HTTP only (urllib). A download goes to `<name>.part`; an interrupted one
(a dropped connection, a killed process) resumes from where it stopped with an HTTP Range
request, in the same run (up to `ATTEMPTS` tries) or in the next. A finished file is
verified before it takes its name: its length against the server's Content-Length and the
known size, then its SHA-1 where one is known, else every member's CRC (a zip archive). A
verified file gets a `<name>.verified` note, and a later call finds it there without any
request. A file that fails verification is removed, so the next run downloads it anew.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

ATTEMPTS = 5  # connections tried per download before giving up (each resumes the last)
CHUNK = 1 << 20  # bytes read and written at a time
TIMEOUT_S = 60.0  # seconds a connection may stay silent
RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(ValueError):
    """A download that failed or did not verify: the message says which and what to do."""


@dataclass(frozen=True)
class Archive:
    """A file to fetch, and what is known of it (None: unknown, checked by the server's
    Content-Length and, for a zip, by its CRCs)."""

    url: str
    size: int | None = None
    sha1: str | None = None

    @property
    def name(self) -> str:
        name = Path(unquote(urlparse(self.url).path)).name
        if not name:
            raise DownloadError(f"{self.url} names no file; give the URL of the archive itself")
        return name


def fetch(archive: Archive, folder: Path, progress: bool = True) -> Path:
    """The archive's file in `folder`, downloaded unless a verified copy is already there."""
    folder.mkdir(parents=True, exist_ok=True)
    target, note = folder / archive.name, folder / f"{archive.name}.verified"
    if target.is_file() and note.is_file() and json.loads(note.read_text()) == _identity(archive, target):
        return target
    part = folder / f"{archive.name}.part"
    total = _download(archive, part, progress)
    _verify(archive, part, total)
    part.replace(target)
    note.write_text(json.dumps(_identity(archive, target)) + "\n")
    return target


def _identity(archive: Archive, path: Path) -> dict[str, object]:
    return {"url": archive.url, "bytes": path.stat().st_size, "sha1": archive.sha1}


def _download(archive: Archive, part: Path, progress: bool) -> int:
    """Fill `part` with the whole file, resuming what is there; the file's length."""
    failure = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(min(2.0**attempt / 4, 8.0))
        done = part.stat().st_size if part.is_file() else 0
        if archive.size is not None and done == archive.size:
            return done
        try:
            return _transfer(archive, part, done, progress)
        except (OSError, http.client.HTTPException) as error:
            if isinstance(error, urllib.error.HTTPError):
                raise DownloadError(
                    f"GET {archive.url} answered HTTP {error.code} {error.reason}; check the URL (or the mirror)"
                ) from error
            failure = f"{type(error).__name__}: {error}"
    raise DownloadError(
        f"downloading {archive.url} failed {ATTEMPTS} times (last: {failure}); run the command again to resume "
        f"from {part.stat().st_size if part.is_file() else 0} bytes"
    )


def _transfer(archive: Archive, part: Path, done: int, progress: bool) -> int:
    """One connection: request the bytes from `done` on and append them; the file's length."""
    request = urllib.request.Request(archive.url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and done:  # nothing after `done`: the .part holds the whole file
            return done
        raise
    with response:
        length = int(response.headers.get("Content-Length", -1))
        matched = RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
        if response.status == 206 and matched and int(matched.group(1)) == done:
            total = int(matched.group(3)) if matched.group(3) != "*" else done + length
        else:  # the server sent the whole file: start again from its first byte
            done, total = 0, length
        if total < 0:
            raise DownloadError(f"GET {archive.url} gave no Content-Length, so the download cannot be checked")
        with part.open("r+b" if done else "wb") as out, tqdm(
            total=total, initial=done, unit="B", unit_scale=True, desc=archive.name, disable=not progress
        ) as bar:
            out.seek(done)
            out.truncate()
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    received = part.stat().st_size
    if received < total:
        raise ConnectionError(f"connection closed after {received} of {total} bytes")
    return total


def _verify(archive: Archive, path: Path, total: int) -> None:
    """Refuse (and remove) a file of the wrong length or checksum, or a zip that fails its CRCs."""
    size = path.stat().st_size
    problem = ""
    if archive.size is not None and size != archive.size:
        problem = f"it has {size} bytes; {archive.name} has {archive.size}"
    elif size != total:
        problem = f"it has {size} bytes; the server announced {total}"
    elif archive.sha1 is not None:
        digest = hashlib.sha1(usedforsecurity=False)
        with path.open("rb") as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != archive.sha1:
            problem = f"its SHA-1 is {digest.hexdigest()}, expected {archive.sha1}"
    elif archive.name.endswith(".zip"):
        problem = _zip_problem(path)
    if problem:
        path.unlink()
        raise DownloadError(
            f"the download of {archive.url} is corrupt ({problem}); it was removed, so running the command "
            "again downloads it anew (if it fails again, the server's copy is broken: try a mirror)"
        )


def _zip_problem(path: Path) -> str:
    """What is wrong with a zip archive (unreadable, or a member whose CRC fails), or ''."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        return f"not a readable zip archive: {error}"
    return f"member {bad} fails its CRC check" if bad else ""
