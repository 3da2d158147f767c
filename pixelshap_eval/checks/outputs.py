"""A check's outcomes for people (summary lines), CI test views (JUnit XML) and CI pages (markdown)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pixelshap_eval.checks.outcome import Outcome

SUITE = "pixelshap-eval check"


def summary(outcomes: list[Outcome], run: str) -> str:
    failed = sum(o.failed for o in outcomes)
    lines = [f"{'FAIL' if failed else 'PASS'}: {run}: {len(outcomes) - failed} of {len(outcomes)} checks passed or were skipped"]
    lines += [f"  [{o.status}] {o.name}: {o.message}" for o in outcomes]
    return "\n".join(lines)


def write_junit(outcomes: list[Outcome], path: str | Path) -> Path:
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(outcomes)),
                       failures=str(sum(o.failed for o in outcomes)), skipped=str(sum(o.status == "skip" for o in outcomes)))
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"pixelshap.{o.kind}", name=o.name)
        if o.failed:
            ET.SubElement(case, "failure", message=o.message).text = o.message
        elif o.status == "skip":
            ET.SubElement(case, "skipped", message=o.message)
        else:
            ET.SubElement(case, "system-out").text = o.message
    root = ET.Element("testsuites")
    root.append(suite)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_markdown(outcomes: list[Outcome], run: str, path: str | Path) -> Path:
    failed = sum(o.failed for o in outcomes)
    icon = {"pass": "pass", "fail": "**FAIL**", "skip": "skip"}
    lines = [f"### pixelshap release check: {'failed' if failed else 'passed'}", "", f"Run: `{run}`", "",
             "| result | check | detail |", "|---|---|---|"]
    lines += [f"| {icon[o.status]} | `{o.name}` | {o.message.replace('|', '/')} |" for o in outcomes]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
