"""One host check as a report line (`imgbuild doctor`, the preflight): what was found and how to fix it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

BUILD_SPACE = 20 * 10**9  # a devel image, its layers and the build cache come to about 20 GB


@dataclass(frozen=True)
class Check:
    """One line of the report. `ok`: True passed, False failed, None a warning or a note."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""


def disk_check(info: dict) -> Check:
    root = str(info.get("DockerRootDir") or "")
    try:
        free = shutil.disk_usage(root).free
    except OSError:  # a remote daemon, or a root dir we may not read: nothing to measure from here
        return Check("disk space", None, f"cannot measure Docker's root dir {root or '?'} from this host",
                     f"check that the daemon's disk has {BUILD_SPACE // 10**9} GB free")
    detail = f"{free / 10**9:.1f} GB free at {root}"
    if free >= BUILD_SPACE:
        return Check("disk space", True, detail)
    return Check("disk space", False, f"{detail}; a build needs about {BUILD_SPACE // 10**9} GB",
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
