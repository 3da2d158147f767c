#!/usr/bin/env python3
"""Compile and compare the project's dependency lock (maintainer tool; standard library only).

The lock, ``requirements.lock``, is a compiled requirements file: every package the project
installs (runtime, all extras, the build requirements) at an exact version with its hashes, and
no index URL or download host. It is compiled by ``uv pip compile`` from ``pyproject.toml`` and
``lock-constraints.txt`` for every platform and Python the project supports (``--universal``).

    python scripts/lock.py compile [--upgrade] [--ignore-constraints] [-o FILE]   # (re)write the lock
    python scripts/lock.py diff OLD NEW                     # which packages would change
    python scripts/lock.py check                            # exit 1 if pyproject and lock disagree

``compile`` keeps the versions already in the output file where they still satisfy pyproject
(uv reads it as preferences), so recompiling an up-to-date lock reproduces it byte for byte;
``check`` relies on that. ``scripts/run.sh lock`` and ``scripts/run.sh upgrade-check`` call this.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
CONSTRAINTS = ROOT / "lock-constraints.txt"
LOWEST_PYTHON = "3.10"  # requires-python's floor: the universal lock covers it and every later one
COMPILE_COMMAND = "scripts/run.sh lock"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def find_uv() -> str:
    """The uv binary: $PIXELSHAP_UV (set by scripts/run.sh), else the one on PATH."""
    uv = os.environ.get("PIXELSHAP_UV") or shutil.which("uv")
    if not uv:
        sys.exit("lock.py: uv not found; run this through scripts/run.sh (it bootstraps uv) or put uv on PATH")
    return uv


def build_requirements() -> list[str]:
    """pyproject's [build-system] requires, which uv pip compile does not read on its own."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["build-system"]["requires"])


def compile_lock(output: Path, upgrade: bool = False, constraints: bool = True) -> None:
    """Resolve pyproject (all extras) + build requirements (+ constraints) into ``output``."""
    command = [
        find_uv(), "pip", "compile", "pyproject.toml", "-",  # "-": the build requirements, on stdin
        "--all-extras", "--generate-hashes", "--universal",
        "--python-version", LOWEST_PYTHON,
        "--custom-compile-command", COMPILE_COMMAND,
        "--quiet",
        "--output-file", str(output),
    ]
    if upgrade:
        command.append("--upgrade")
    if constraints:
        command += ["--constraint", CONSTRAINTS.name]
    env = {**os.environ, "UV_NO_CONFIG": "1"}  # the lock must not depend on a user's uv.toml
    stdin = "\n".join(build_requirements()) + "\n"
    subprocess.run(command, cwd=ROOT, env=env, input=stdin, text=True, check=True)


def requirements(lock_text: str) -> list[tuple[str, str, str | None]]:
    """(normalised name, exact version, environment marker or None) for each pin in a lock."""
    found = []
    for line in lock_text.splitlines():
        match = _PIN.match(line)
        if match:
            found.append((re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(2), match.group(3)))
    return found


def pins(lock_text: str) -> dict[str, set[str]]:
    """Package name -> the exact versions the lock pins (more than one where markers split)."""
    found: dict[str, set[str]] = {}
    for name, version, _ in requirements(lock_text):
        found.setdefault(name, set()).add(version)
    return found


def diff(old_text: str, new_text: str) -> list[str]:
    """One line per package whose pinned versions differ between two locks."""
    old, new = pins(old_text), pins(new_text)
    lines = []
    for name in sorted(old.keys() | new.keys()):
        before, after = sorted(old.get(name, ())), sorted(new.get(name, ()))
        if before != after:
            lines.append(f"{name}: {', '.join(before) or '(absent)'} -> {', '.join(after) or '(removed)'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_compile = sub.add_parser("compile", help="(re)write the lock")
    p_compile.add_argument("--upgrade", action="store_true", help="newest versions pyproject allows")
    p_compile.add_argument("--ignore-constraints", action="store_true", help="lift lock-constraints.txt (the canary)")
    p_compile.add_argument("-o", "--output", type=Path, default=LOCK)
    p_diff = sub.add_parser("diff", help="packages whose versions differ between two locks")
    p_diff.add_argument("old", type=Path)
    p_diff.add_argument("new", type=Path)
    sub.add_parser("check", help="exit 1 when pyproject.toml and requirements.lock disagree")
    args = parser.parse_args(argv)

    if args.command == "compile":
        compile_lock(args.output.resolve(), upgrade=args.upgrade, constraints=not args.ignore_constraints)
        return 0
    if args.command == "diff":
        changes = diff(args.old.read_text(), args.new.read_text())
        print("\n".join(changes) if changes else "no package changes")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "requirements.lock"
        shutil.copyfile(LOCK, fresh)
        compile_lock(fresh)
        if fresh.read_text() == LOCK.read_text():
            print("requirements.lock matches pyproject.toml")
            return 0
        changes = diff(LOCK.read_text(), fresh.read_text())
        print("requirements.lock is out of date with pyproject.toml; run `scripts/run.sh lock`. Changes:")
        print("\n".join(changes) if changes else "(only hashes or markers differ)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
