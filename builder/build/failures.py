"""A failed build explained in one line where pip said why in twenty: a hash that does not match the lock, or a
team's extra that would move a pinned package."""

from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import BuildError
from ..core.variant import Variant
from ..lock.lockfile import lock_command, lock_path


def explain_failure(variant: Variant, log_path: Path) -> BuildError | None:
    """The one line for a failure the log shows a known cause of, else None (the engine's own line stands)."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    text = _BUILDKIT_PREFIX.sub("", text)  # BuildKit's "#12 3.456 " before each line a step printed
    return hash_mismatch(variant, text, log_path) or pinned_conflict(variant, text)


_BUILDKIT_PREFIX = re.compile(r"^#\d+ \d+\.\d+ ", re.MULTILINE)
_MISMATCH = re.compile(r"^\s+(\S+==\S+) from .*\n\s+Expected sha256", re.MULTILINE)


def hash_mismatch(variant: Variant, text: str, log_path: Path) -> BuildError | None:
    """pip's hash check failed: name the package and the lock instead of pip's twenty lines."""
    if "DO NOT MATCH THE HASHES" not in text:
        return None
    match = _MISMATCH.search(text)
    what = match[1] if match else "a package"
    return BuildError(f"{what} does not match its hash in {lock_path(variant)}: the lock or the package source "
                      f"was altered; review the lock (`git diff locks/`) and re-resolve with "
                      f"`{lock_command(variant)}` (log: {log_path})")


def pinned_conflict(variant: Variant, text: str) -> BuildError | None:
    """pip refused to move a pinned package (torch & co) for an extra: what it asked for, what the constraints hold."""
    wants = re.search(r"^\s*(\S+ \S+ depends on .+?)\s*$", text, re.MULTILINE)
    held = re.search(r"The user requested \(constraint\) (.+?)\s*$", text, re.MULTILINE)
    if not (wants and held):
        return None
    return BuildError(f"image {variant.image}: {wants[1]}, but the variant keeps {held[1]} (torch, torchvision, timm, "
                      f"Triton and the CUDA wheels never move): pin a version of that extra made for "
                      f"torch {variant.torch}")
