"""A build context: the folder the engine builds from, written afresh for one image."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

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


def fresh_folder(out: Path, variant: Variant) -> Path:
    """out/<image name>/, emptied of an earlier render; the context is exactly what imgbuild writes."""
    path = out / variant.name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / ".dockerignore").write_text("# the context is exactly what imgbuild rendered\n", encoding="utf-8")
    return path
