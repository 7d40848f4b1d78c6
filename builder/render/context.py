"""A build context: the folder the engine builds from, written afresh for one image."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigError
from ..core.paths import holds
from ..core.variant import Variant


@dataclass(frozen=True)
class BuildContext:
    variant: Variant
    path: Path

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"

    @property
    def ca_certificates(self) -> Path:
        """Where a site's CA certificates go (a context without this folder installs none: its FROM has them)."""
        return self.path / "ca-certificates"


# Every context carries this .dockerignore; it also marks the folder as imgbuild's, the only kind it ever replaces.
MARK = "# the context is exactly what imgbuild rendered\n"
STAGING = ".imgbuild-rendering-"  # where a render writes a context before moving it into place (render.py)


def fresh_folder(out: Path, variant: Variant) -> Path:
    """out/<image name>/, emptied of an earlier render; a folder of that name that imgbuild did not write is a user's,
    and is never deleted."""
    path = replaceable(out / variant.name)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / ".dockerignore").write_text(MARK, encoding="utf-8")
    return path


def replaceable(path: Path) -> Path:
    """`path`, where a build context may be written: absent, or a context imgbuild rendered before."""
    if path.is_symlink() or path.exists() and not is_rendered(path):
        raise ConfigError(f"{path} exists and imgbuild did not write it (no build context of its own): move it away, "
                          "or pick another --out")
    return path


def is_rendered(path: Path) -> bool:
    """A build context imgbuild wrote (and may replace)."""
    marker = path / ".dockerignore"  # a FIFO there (--out is the user's) must not hang the check: holds() never blocks
    return path.is_dir() and not marker.is_symlink() and holds(marker, MARK, whole=True)
