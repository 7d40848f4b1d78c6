"""One host check as a report line (`imgbuild doctor`, the preflight): what was found and how to fix it."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# What one release (build, test, push) of a flavor takes at its peak in Docker's data root, rounded up: the
# commit of the largest layer, which briefly exists twice (bench/release_disk.py, 14 GB filesystem: runtime
# 9.2 GB of 13.4 GB free; docs/nightly.md has the figures).
BUILD_SPACE = {"runtime": 10 * 10**9, "devel": 11 * 10**9}


@dataclass(frozen=True)
class Check:
    """One line of the report. `ok`: True passed, False failed, None a warning or a note."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class MatrixNeeds:
    """What a matrix asks of a host, as plain values for `imgbuild doctor` (host/ sits below matrix/)."""

    source: str  # the matrix file
    variants: int
    min_drivers: Mapping[str, str]  # CUDA version -> the driver it needs, as written ("580.65.06")
    base_image: str


def disk_check(info: dict, flavors: Iterable[str] = ("devel",)) -> Check:
    """Free space in Docker's data root against the largest need among the flavors about to be built."""
    flavor = max(flavors, key=lambda f: BUILD_SPACE.get(f, max(BUILD_SPACE.values())), default="devel")
    need = BUILD_SPACE.get(flavor, max(BUILD_SPACE.values()))
    root = str(info.get("DockerRootDir") or "")
    try:
        free = shutil.disk_usage(root).free
    except OSError:  # a remote daemon, or a root dir we may not read: nothing to measure from here
        return Check("disk space", None, f"cannot measure Docker's root dir {root or '?'} from this host",
                     f"check that the daemon's disk has {need / 10**9:.0f} GB free")
    detail = f"{free / 10**9:.1f} GB free at {root}"
    if free >= need:
        return Check("disk space", True, detail)
    return Check("disk space", False, f"{detail}; a release of a {flavor} image needs about {need / 10**9:.0f} GB",
                 "free space (`docker system prune`, `docker builder prune`) or move Docker's data-root")


def split_message(message: str) -> tuple[str, str]:
    """"cause: fix (underlying error)" -> ("cause (underlying error)", "fix"): our errors all read so."""
    cause, sep, fix = message.partition(": ")
    if not sep:
        return message, ""
    if fix.endswith(")"):
        depth = 0
        for i in range(len(fix) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(fix[i], 0)
            if depth == 0:
                if i > 0 and fix[i - 1] == " ":
                    cause, fix = f"{cause} {fix[i:]}", fix[:i - 1]
                break
    return cause, fix
