"""SmokeReport: what the smoke suite found in one image, case by case, as JSON or JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import writing
from ..core.paths import claim
from ..core.reference import ImageRef


@dataclass(frozen=True)
class SmokeCase:
    name: str
    outcome: str  # passed | failed | skipped
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class SmokeReport:
    image: str
    image_id: str
    variant: str
    gpu_tier: bool
    cases: tuple[SmokeCase, ...]
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.cases) and not any(c.outcome == "failed" for c in self.cases)

    def counts(self) -> dict[str, int]:
        return {k: sum(c.outcome == k for c in self.cases) for k in ("passed", "failed", "skipped")}

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "passed": self.passed, "counts": self.counts()}, indent=2)


JSON_MARK, JUNIT_MARK = '"image_id"', 'name="imgbuild smoke'


def report_paths(path: Path, images: Sequence[ImageRef]) -> list[Path]:
    """Where each image's report goes: `path` itself when one image is tested; with several, one file each beside it,
    named for the image (smoke.json -> smoke.pytorch-2.6.0-cpu.json), so no report overwrites another."""
    if len(images) == 1:
        return [path]
    names = [f"{ref.name}-{ref.tag or (ref.digest or '').split(':')[-1][:12]}" for ref in images]
    if len(set(names)) < len(names):  # two registries' images of one name and tag: their place in the run tells them apart
        names = [f"{n}-{i}" for i, n in enumerate(names, 1)]
    return [path.with_name(f"{path.stem}.{name}{path.suffix}") for name in names]


def write_json(report: SmokeReport, path: Path) -> None:
    claim(path, JSON_MARK)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.to_json())


def write_junit(report: SmokeReport, path: Path) -> None:
    """The report as JUnit XML (one testcase per case; failures and skips carry their message)."""
    claim(path, JUNIT_MARK)
    counts = report.counts()
    suite = ET.Element("testsuite", name=f"imgbuild smoke {report.variant}", tests=str(len(report.cases)),
                       failures=str(counts["failed"]), skipped=str(counts["skipped"]), time=f"{report.seconds:.2f}")
    for case in report.cases:
        classname, _, name = case.name.rpartition("::")
        element = ET.SubElement(suite, "testcase", classname=classname or "smoke", name=name,
                                time=f"{case.seconds:.2f}")
        if case.outcome in ("failed", "skipped"):
            ET.SubElement(element, "failure" if case.outcome == "failed" else "skipped", message=case.message[:500])
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
