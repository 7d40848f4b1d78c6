"""The inputs digest: one value that changes exactly when what goes into an image changes.

It hashes the rendered build context (Dockerfile, files, the lock, the site's CA certificates), the base image's
digest (the caller asks the engine for it: build/build.py's base_digest; rendering asks the engine nothing) and the
site options that change what is installed. Where the wheels come from (index, wheelhouse) is not an input: the
lock's hashes pin every file. Build-time labels (date, revision) are not inputs either, so an unchanged variant has
the same digest tomorrow, and `release` can skip it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

INPUTS_LABEL = "io.imgbuild.inputs.digest"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"


def context_digest(context: Path) -> str:
    """Every file's relative path, executable bit and content, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        data = path.read_bytes()
        executable = "x" if os.stat(path).st_mode & 0o111 else "-"
        h.update(f"{path.relative_to(context).as_posix()}\0{executable}\0{len(data)}\0".encode())
        h.update(data)
    return "sha256:" + h.hexdigest()


def inputs_digest(context: Path, base: str) -> str:
    """The site's options that change what is installed (--ca-cert, --base-image) are in the context already."""
    record = {"context": context_digest(context), "base": base}
    return "sha256:" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def inputs_labels(context: Path, base: str) -> dict[str, str]:
    """The labels a build sets from its inputs; `base` is the base image's digest."""
    return {INPUTS_LABEL: inputs_digest(context, base), BASE_DIGEST_LABEL: base}
