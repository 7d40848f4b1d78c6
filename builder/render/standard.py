"""The build context of a variant's own image: its Dockerfile, the files every image carries, its lock and a
folder for the site's CA certificates."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..core.paths import TEMPLATES
from ..core.variant import Standard, Variant
from ..lock.lockfile import Lock, load_lock, lock_command, lock_path
from .context import BuildContext, fresh_folder
from .dockerfile import cuda_layers, lock_parts, python_layers, render_dockerfile


def render_standard(_: Standard, variant: Variant, out: Path, *, unlocked: bool = False) -> BuildContext:
    """The variant's lock must be there and current; `unlocked` (linting only) writes a lock that no build can
    install instead. (The kind, `variant.kind`, adds nothing to the variant's own image.)"""
    lock = None if unlocked and not lock_path(variant).is_file() else load_lock(variant)
    path = fresh_folder(out, variant)
    (path / "Dockerfile").write_text(render_dockerfile(variant, lock), encoding="utf-8")
    _copy_tree(path / "files")
    _write_lock(path / "lock", variant, lock)
    (path / "ca-certificates").mkdir()
    return BuildContext(variant=variant, path=path)


def _write_lock(target: Path, variant: Variant, lock: Lock | None) -> None:
    """lock/requirements.lock (the whole lock, kept in the image) and one requirements file per layer that
    installs part of it: cuda/<wheel>.txt, torch.txt, packages.txt, extra.txt (devel's own)."""
    (target / "cuda").mkdir(parents=True)
    shared, extra = lock_parts(variant, lock)
    if lock is None:  # `render --unlocked`: a requirement no index has, so a build of this context stops here
        note = f"# {variant.id} has no lock: run `{lock_command(variant)}`\n"
        (target / "requirements.lock").write_text(note, encoding="utf-8")
        (target / "packages.txt").write_text(note + "imgbuild-variant-not-locked==0 --hash=sha256:" + "0" * 64
                                             + "\n", encoding="utf-8")
    else:
        (target / "requirements.lock").write_text(lock.text, encoding="utf-8")
        for name, pins in cuda_layers(shared):
            _write_requirements(target / "cuda" / f"{name}.txt", pins)
        for name, pins in python_layers(shared):
            _write_requirements(target / f"{name}.txt", pins)
    _write_requirements(target / "extra.txt", extra)


def _write_requirements(path: Path, pins: list) -> None:
    path.write_text("".join(p.requirement() + "\n" for p in pins), encoding="utf-8")


@functools.cache
def _template_files() -> tuple[tuple[Path, bytes, int], ...]:
    """The files every context carries, read once: (relative path, content, mode)."""
    source = TEMPLATES / "files"
    return tuple((item.relative_to(source), item.read_bytes(), 0o755 if item.stat().st_mode & 0o111 else 0o644)
                 for item in sorted(source.rglob("*")) if item.is_file() and "__pycache__" not in item.parts)


def _copy_tree(target: Path) -> None:
    """Content and the executable bit only (no timestamps), so renders are byte-identical."""
    made: set[Path] = set()
    for relative, content, mode in _template_files():
        dest = target / relative
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chmod(dest, mode)  # the umask must not change what the build context holds
