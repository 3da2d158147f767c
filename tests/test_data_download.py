"""`build coco --download` against a local HTTP server (127.0.0.1, Range support written here)
serving a small COCO-format release made from coco_tiny: a full download and build, a download
cut mid-file and resumed, a cached second run that makes no request, corrupt archives."""

from __future__ import annotations

import json
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from datasets import load_from_disk

from pixelshap_eval import cli
from pixelshap_eval.data import download
from pixelshap_eval.data.coco import build_coco_set
from pixelshap_eval.data.coco_release import archive_for, fetch_coco
from pixelshap_eval.data.download import Archive, DownloadError, fetch

IMAGES = 4  # images of coco_tiny in the served release


class _Release(BaseHTTPRequestHandler):
    """Serves `files` by path with single-range requests; `cut` paths drop the connection
    half-way through their first answer; `ignore_range` answers every request in full."""

    files: ClassVar[dict[str, bytes]] = {}
    cut: ClassVar[set[str]] = set()
    ignore_range: ClassVar[bool] = False
    requests: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        cls = type(self)
        cls.requests.append((self.path, self.headers.get("Range")))
        body = cls.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        matched = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if matched and not cls.ignore_range:
            start = int(matched.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in cls.cut:
            cls.cut.discard(self.path)
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            return  # HTTP/1.0: the server closes the connection, short of the Content-Length
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def release(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A COCO-format release of the first IMAGES images of coco_tiny val2017: annotation zip, image zip."""
    source = shared_data / "coco_tiny"
    data = json.loads((source / "annotations" / "instances_val2017.json").read_text())
    images = data["images"][:IMAGES]
    ids = {image["id"] for image in images}
    trimmed = {**data, "images": images, "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}
    train = json.loads((source / "annotations" / "instances_train2017.json").read_text())
    folder = tmp_path_factory.mktemp("release")
    with zipfile.ZipFile(folder / "annotations.zip", "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("annotations/instances_val2017.json", json.dumps(trimmed))
        zipped.writestr("annotations/instances_train2017.json", json.dumps(train))
        zipped.writestr("annotations/captions_val2017.json", "{}")  # not extracted
    with zipfile.ZipFile(folder / "images.zip", "w", zipfile.ZIP_STORED) as zipped:
        for image in images:
            zipped.write(source / "val2017" / image["file_name"], f"val2017/{image['file_name']}")
    with zipfile.ZipFile(folder / "train.zip", "w", zipfile.ZIP_STORED) as zipped:
        for image in train["images"][:2]:
            zipped.write(source / "train2017" / image["file_name"], f"train2017/{image['file_name']}")
    return {name: (folder / f"{name}.zip").read_bytes() for name in ("annotations", "images", "train")}


@pytest.fixture()
def server(release, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)
    _Release.files = {
        "/coco/annotations_tiny.zip": release["annotations"],
        "/coco/val2017_tiny.zip": release["images"],
        "/coco/train2017_tiny.zip": release["train"],
    }
    _Release.cut, _Release.ignore_range, _Release.requests = set(), False, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Release)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _argv(base: str, cache: Path, out: Path) -> list[str]:
    return [
        "build", "coco", "--download", "--cache-dir", str(cache), "--out", str(out), "--overwrite",
        "--annotations-url", f"{base}/coco/annotations_tiny.zip", "--images-url", f"{base}/coco/val2017_tiny.zip",
    ]


def _run(monkeypatch, argv):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("build",))
    return cli.main(argv)


def test_download_builds_the_set_and_a_second_run_asks_nothing(server, tmp_path, monkeypatch, shared_data, capsys):
    cache = tmp_path / "cache"
    assert _run(monkeypatch, _argv(server, cache, tmp_path / "coco")) == 0
    assert _Release.requests == [("/coco/annotations_tiny.zip", None), ("/coco/val2017_tiny.zip", None)]
    rows = load_from_disk(str(tmp_path / "coco"))["test"]
    source = shared_data / "coco_tiny"
    direct = build_coco_set(source / "annotations" / "instances_val2017.json", source / "val2017", limit=IMAGES)
    assert rows["question_id"] == direct.dataset["test"]["question_id"] and rows.num_rows >= 1
    assert set(rows["source"]) == {"coco/val2017"}
    extracted = sorted(path.name for path in (cache / "extracted" / "val2017" / "val2017_tiny" / "val2017").iterdir())
    assert len(extracted) == IMAGES and not list(cache.rglob("captions_val2017.json"))

    _Release.requests.clear()
    assert _run(monkeypatch, _argv(server, cache, tmp_path / "again")) == 0
    assert _Release.requests == []
    assert load_from_disk(str(tmp_path / "again"))["test"]["question_id"] == rows["question_id"]
    assert "built coco:" in capsys.readouterr().out


def test_a_connection_cut_mid_file_is_resumed_with_a_range_request(server, tmp_path, release):
    _Release.cut = {"/coco/val2017_tiny.zip"}
    path = fetch(Archive(f"{server}/coco/val2017_tiny.zip"), tmp_path, progress=False)
    assert path.read_bytes() == release["images"]
    (first, first_range), (second, second_range) = _Release.requests
    assert first == second == "/coco/val2017_tiny.zip" and first_range is None
    assert second_range == f"bytes={len(release['images']) // 2}-"
    assert not (tmp_path / "val2017_tiny.zip.part").exists()


def test_a_part_file_left_by_an_earlier_run_is_resumed(server, tmp_path, release):
    (tmp_path / "annotations_tiny.zip.part").write_bytes(release["annotations"][:1000])
    path = fetch(Archive(f"{server}/coco/annotations_tiny.zip"), tmp_path, progress=False)
    assert path.read_bytes() == release["annotations"]
    assert _Release.requests == [("/coco/annotations_tiny.zip", "bytes=1000-")]


def test_a_server_that_ignores_range_is_read_again_from_the_start(server, tmp_path, release):
    _Release.cut, _Release.ignore_range = {"/coco/val2017_tiny.zip"}, True
    path = fetch(Archive(f"{server}/coco/val2017_tiny.zip"), tmp_path, progress=False)
    assert path.read_bytes() == release["images"] and len(_Release.requests) == 2


def test_a_corrupt_archive_is_one_clear_error_and_is_removed(server, tmp_path, monkeypatch, release, capsys):
    damaged = bytearray(release["images"])
    damaged[len(damaged) // 3] ^= 0xFF  # inside a stored JPEG member: its CRC no longer matches
    _Release.files["/coco/val2017_tiny.zip"] = bytes(damaged)
    cache = tmp_path / "cache"
    assert _run(monkeypatch, _argv(server, cache, tmp_path / "coco")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("pixelshap-eval build coco:")]
    assert len(errors) == 1  # the rest of stderr is the progress bars
    error = errors[0]
    assert "val2017_tiny.zip is corrupt (member val2017/" in error and "fails its CRC check" in error
    assert "running the command again downloads it anew" in error
    assert sorted(path.name for path in (cache / "archives").iterdir()) == [
        "annotations_tiny.zip", "annotations_tiny.zip.verified",
    ]
    assert not (tmp_path / "coco").exists()


def test_a_mirror_of_an_official_archive_is_held_to_its_size(server, tmp_path):
    _Release.files["/mirror/val2017.zip"] = b"not the 778 MB archive"
    official = archive_for(f"{server}/mirror/val2017.zip")
    assert official.size == 815_585_330 and official.sha1 == "4950dc9d00dbe1c933ee0170f5797584351d2a41"
    with pytest.raises(DownloadError, match=r"is corrupt \(it has 22 bytes; val2017.zip has 815585330\)"):
        fetch(official, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_second_split_reuses_the_annotation_archive(server, tmp_path):
    annotations = f"{server}/coco/annotations_tiny.zip"
    val = fetch_coco(tmp_path, "val2017", annotations, f"{server}/coco/val2017_tiny.zip", progress=False)
    train = fetch_coco(tmp_path, "train2017", annotations, f"{server}/coco/train2017_tiny.zip", progress=False)
    assert json.loads(val.annotations.read_text())["images"][0]["file_name"] in {p.name for p in val.images.iterdir()}
    assert train.annotations.name == "instances_train2017.json" and len(list(train.images.iterdir())) == 2
    assert [path for path, _ in _Release.requests].count("/coco/annotations_tiny.zip") == 1


def test_a_missing_archive_names_the_http_status(server, tmp_path):
    with pytest.raises(DownloadError, match=r"answered HTTP 404"):
        fetch_coco(tmp_path, annotations_url=f"{server}/coco/absent.zip", images_url=f"{server}/coco/val2017_tiny.zip")


def test_download_arguments_are_checked(tmp_path, monkeypatch, capsys):
    assert _run(monkeypatch, ["build", "coco", "--out", str(tmp_path / "a")]) == 2
    assert "--download" in capsys.readouterr().err
    argv = ["build", "coco", "--download", "--annotations", "x.json", "--out", str(tmp_path / "b")]
    assert _run(monkeypatch, argv) == 2
    assert "drop --annotations" in capsys.readouterr().err
    assert _run(monkeypatch, ["build", "coco", "--download", "--split", "test2015", "--out", str(tmp_path / "c")]) == 2
    assert "val2017, train2017" in capsys.readouterr().err
