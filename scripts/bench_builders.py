"""Peak memory of `pixelshap-eval build coco` as the number of images grows.

COCO-format inputs of each size are made by replicating `coco_tiny/val2017` (80 images) under
new image and annotation ids, the image files hard-linked (or copied) into one temporary image
folder. Each build runs the real command in its own process (build, fingerprint, save), and the
parent samples the child's /proc/<pid>/status every 20 ms:

- peak anonymous memory (RssAnon: heap, the memory a build really needs), and
- peak resident memory (ru_maxrss of the child; it also counts pages of the memory-mapped Arrow
  files, which the kernel can drop at any time).

`--before REV` also runs the builder of an earlier git revision (its `pixelshap_eval` package,
exported with `git archive`) on the same inputs, side by side; `--before-sizes` limits it to
the sizes it can afford (the in-memory builder needs about 1.3 MB per image).

    python scripts/bench_builders.py                                   # 1,600 and 8,000 images
    python scripts/bench_builders.py --before f6c7cbe~1 --before-sizes 1600
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE = REPO_ROOT.parent / "shared" / "data" / "coco_tiny"
BUILD = (
    "import sys, pixelshap_eval; from pixelshap_eval.cli import main; "
    "print('package:', pixelshap_eval.__file__, file=sys.stderr); sys.exit(main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Peak:
    """One build's peaks in MB, its rows and seconds."""

    anon_mb: float
    rss_mb: float
    rows: int
    seconds: float


def replicate(source: Path, copies: int, folder: Path) -> tuple[Path, Path]:
    """A COCO instances file of `copies` x the source's images, each copy under new ids, and its
    image folder (hard links where the file system allows, else copies)."""
    data = json.loads((source / "annotations" / "instances_val2017.json").read_text())
    images_dir = folder / "images"
    images_dir.mkdir(parents=True)
    id_step = 1 + max(image["id"] for image in data["images"])
    annotation_step = 1 + max(annotation["id"] for annotation in data["annotations"])
    images, annotations = [], []
    for copy in range(copies):
        for image in data["images"]:
            name = f"{copy:04d}_{image['file_name']}"
            _link_or_copy(source / "val2017" / image["file_name"], images_dir / name)
            images.append({**image, "id": image["id"] + copy * id_step, "file_name": name})
        annotations += [
            {**a, "id": a["id"] + copy * annotation_step, "image_id": a["image_id"] + copy * id_step}
            for a in data["annotations"]
        ]
    annotations_file = folder / "instances_bench.json"
    annotations_file.write_text(json.dumps({**data, "images": images, "annotations": annotations}))
    return annotations_file, images_dir


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def measure(annotations: Path, images: Path, out: Path, package_root: Path | None) -> Peak:
    """Run one build in a child process and sample its memory until it exits."""
    env = dict(os.environ)
    if package_root is not None:  # an exported older package, found before the installed one
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-c", BUILD, "build", "coco", "--annotations", str(annotations), "--images", str(images),
            "--split", "bench", "--out", str(out)]
    log = out.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w") as output:  # a file, not a pipe: the progress bars never block the child
        child = subprocess.Popen(argv, env=env, cwd=out.parent, stdout=output, stderr=subprocess.STDOUT)  # cwd: not the repo, whose package `-c` would import first
        status, anon_kb = Path(f"/proc/{child.pid}/status"), 0
        while True:
            pid, exit_status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            try:
                anon = next(line for line in status.read_text().splitlines() if line.startswith("RssAnon:"))
                anon_kb = max(anon_kb, int(anon.split()[1]))
            except (OSError, StopIteration, ValueError):
                pass
            time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(exit_status)  # reaped here, with its rusage
    seconds, text = time.perf_counter() - start, log.read_text()
    if child.returncode:
        raise SystemExit(f"build failed ({child.returncode}):\n{text[-2000:]}")
    if package_root is not None and f"package: {package_root}" not in text:
        raise SystemExit(f"the --before build did not import its own package:\n{text[-500:]}")
    rows = int(text.split("built coco: ")[1].split()[0])
    return Peak(anon_kb / 1024, usage.ru_maxrss / 1024, rows, seconds)


def export_revision(revision: str, folder: Path) -> Path:
    """`pixelshap_eval` as it was at `revision`, unpacked into `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", revision, "pixelshap_eval"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1600,8000", help="numbers of images, multiples of 80 (default: %(default)s)")
    parser.add_argument("--before", metavar="REV", help="also measure the builder of this git revision")
    parser.add_argument("--before-sizes", help="sizes for --before (default: all of --sizes)")
    parser.add_argument("--source", type=Path, default=SOURCE, help="coco_tiny folder (default: %(default)s)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary folder, removed)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    before_sizes = [int(size) for size in args.before_sizes.split(",")] if args.before_sizes else sizes
    per_copy = len(json.loads((args.source / "annotations" / "instances_val2017.json").read_text())["images"])
    if any(size % per_copy for size in sizes):
        raise SystemExit(f"sizes must be multiples of {per_copy} (the images of {args.source})")
    work = Path(tempfile.mkdtemp(prefix="bench-builders-", dir=args.work))
    try:
        before_root = export_revision(args.before, work / "before") if args.before else None
        print("| images | rows | builder | peak anonymous MB | peak RSS MB | seconds |")
        print("| ---: | ---: | --- | ---: | ---: | ---: |")
        for size in sizes:
            annotations, images = replicate(args.source, size // per_copy, work / f"input-{size}")
            runs = [("streaming (this tree)", None)]
            if before_root is not None and size in before_sizes:
                runs.append((f"in memory ({args.before})", before_root))
            for label, root in runs:
                out = work / f"out-{size}"
                peak = measure(annotations, images, out, root)
                shutil.rmtree(out)
                print(f"| {size} | {peak.rows} | {label} | {peak.anon_mb:.0f} | {peak.rss_mb:.0f} | {peak.seconds:.0f} |",
                      flush=True)
            shutil.rmtree(work / f"input-{size}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
