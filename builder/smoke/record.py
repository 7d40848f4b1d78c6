"""The tested gate's evidence: the smoke verdict of one exact image id, in hand (a SmokeReport) or kept on disk by
`imgbuild test` for a later `imgbuild push`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..core.errors import writing
from ..core.paths import WORK_DIR, read_regular
from .report import SmokeReport

MAX_RECORD_BYTES = 1 << 20  # a record is a smoke report: a few KB


class Tested(Protocol):
    """What the gate reads of a smoke result: a SmokeReport in hand, or a TestRecord of an earlier run."""

    @property
    def image_id(self) -> str: ...

    @property
    def passed(self) -> bool: ...


@dataclass(frozen=True)
class TestRecord:
    """The persisted verdict of `imgbuild test` on one image id, for a later `imgbuild push` run."""

    __test__ = False  # not a pytest class
    image_id: str
    passed: bool


def _record_path(image_id: str, work_dir: Path) -> Path:
    return Path(work_dir) / "tested" / f"{image_id.removeprefix('sha256:')}.json"


def record_tested(report: SmokeReport, work_dir: Path = WORK_DIR) -> Path:
    """Remember the smoke result of this exact image id (a rebuild is a new id and needs a new test)."""
    path = _record_path(report.image_id, work_dir)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(report.to_json())
        tmp.replace(path)  # a reader never sees half a record
    return path


def tested_record(image_id: str, work_dir: Path = WORK_DIR) -> TestRecord | None:
    """The record an earlier `imgbuild test` left for this image id, or None (never tested, or not JSON); anything
    there but a file (a FIFO would hang the push) is a ConfigError."""
    path = _record_path(image_id, work_dir)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        record = json.loads(read_regular(path, MAX_RECORD_BYTES, "remove it and run `imgbuild test` again",
                                         "a test record"))
    except (ValueError, RecursionError):  # RecursionError: JSON nested a thousand deep
        return None
    if not isinstance(record, dict):
        return None
    return TestRecord(image_id=str(record.get("image_id") or image_id), passed=record.get("passed") is True)
