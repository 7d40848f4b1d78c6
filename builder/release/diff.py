"""What changed between two images (or two locks): packages added, removed, upgraded, downgraded; base and inputs.

An image's side is read from its config labels through the Registry API (the lock's pins, the base image's
digest, the inputs digest), so no layer is pulled; a side may also be a lock file, for the lock-refresh PR.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..core.errors import ConfigError
from ..core.redact import redact
from ..core.reference import ImageRef
from ..lock.lockfile import read_lock
from ..registry.client import RegistryClient
from ..render.inputs import BASE_DIGEST_LABEL, INPUTS_LABEL

PACKAGES_LABEL = "io.imgbuild.packages"
CREATED_LABEL = "org.opencontainers.image.created"


@dataclass(frozen=True)
class Side:
    """One end of a diff: where it was read and what it says."""

    ref: str
    packages: dict[str, str]
    base_digest: str | None = None
    inputs_digest: str | None = None
    created: str | None = None


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    added: dict[str, str] = field(default_factory=dict)  # name -> version in b
    removed: dict[str, str] = field(default_factory=dict)  # name -> version in a
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (a, b)
    downgraded: dict[str, tuple[str, str]] = field(default_factory=dict)
    base: tuple[str | None, str | None] | None = None  # (a, b) when they differ
    inputs: tuple[str | None, str | None] | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded or self.downgraded or self.base or self.inputs)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(what, name, a, b) for a table, packages first, sorted by name."""
        rows = [("added", n, "-", v) for n, v in self.added.items()]
        rows += [("removed", n, v, "-") for n, v in self.removed.items()]
        rows += [("upgraded", n, a, b) for n, (a, b) in self.upgraded.items()]
        rows += [("downgraded", n, a, b) for n, (a, b) in self.downgraded.items()]
        rows.sort(key=lambda r: r[1])
        if self.base:
            rows.append(("base image", "digest", str(self.base[0]), str(self.base[1])))
        if self.inputs:
            rows.append(("inputs", "digest", str(self.inputs[0]), str(self.inputs[1])))
        return rows

    def summary(self) -> str:
        """One line for TAGS.md and job summaries."""
        parts = [f"{n} {a} → {b}" for n, (a, b) in sorted({**self.upgraded, **self.downgraded}.items())]
        parts += [f"+{n} {v}" for n, v in sorted(self.added.items())]
        parts += [f"−{n} {v}" for n, v in sorted(self.removed.items())]
        if self.base:
            parts.append("new base image")
        if not parts and self.inputs:
            parts.append("build files changed")
        return ", ".join(parts) or "nothing"


def packages_from_labels(labels: dict[str, str]) -> dict[str, str]:
    pins = (labels.get(PACKAGES_LABEL) or "").split()
    return dict(p.split("==", 1) for p in pins if "==" in p)


def side_from_labels(ref: str, labels: dict[str, str]) -> Side:
    return Side(ref=ref, packages=packages_from_labels(labels), base_digest=labels.get(BASE_DIGEST_LABEL),
                inputs_digest=labels.get(INPUTS_LABEL), created=labels.get(CREATED_LABEL))


def compare(a: Side, b: Side) -> Diff:
    added = {n: v for n, v in b.packages.items() if n not in a.packages}
    removed = {n: v for n, v in a.packages.items() if n not in b.packages}
    upgraded, downgraded = {}, {}
    for name in sorted(set(a.packages) & set(b.packages)):
        old, new = a.packages[name], b.packages[name]
        if old != new:
            (upgraded if _newer(new, old) else downgraded)[name] = (old, new)
    base = (a.base_digest, b.base_digest) if a.base_digest != b.base_digest else None
    inputs = (a.inputs_digest, b.inputs_digest) if a.inputs_digest != b.inputs_digest else None
    return Diff(a=a.ref, b=b.ref, added=dict(sorted(added.items())), removed=dict(sorted(removed.items())),
                upgraded=upgraded, downgraded=downgraded, base=base, inputs=inputs)


def diff_of(ref_a: str, ref_b: str) -> Diff:
    """`imgbuild diff`: what changed from one image (or lock file) to another."""
    return compare(read_side(ref_a), read_side(ref_b))


def read_side(ref: str) -> Side:
    """A lock file (a path that exists), else a registry reference HOST[:PORT]/REPOSITORY:TAG (or @DIGEST)."""
    if Path(ref).is_file():
        lock = read_lock(Path(ref))
        return Side(ref=ref, packages=lock.versions(), inputs_digest=lock.inputs_digest or None)
    try:
        image = ImageRef.parse_remote(ref)
    except ConfigError:
        raise ConfigError(f"{redact(ref)!r} is neither a lock file nor a registry image: give a path or "
                          "HOST[:PORT]/REPOSITORY:TAG (e.g. ghcr.io/org/pytorch:2.6.0-cpu-2026-11-22)") from None
    config = RegistryClient.open(image.registry).config(image.repository, image.reference)
    return side_from_labels(ref, (config.get("config") or {}).get("Labels") or {})


def catalog_line(entry) -> str | None:
    """What TAGS.md says about a release.ReleaseEntry's change since the previous date, if it knows."""
    if entry.unchanged_since:
        return f"Unchanged since {entry.unchanged_since}: the dated tag names the same digest (no rebuild)."
    changes = entry.changes
    if changes:
        return f"Changed since {changes.get('since') or 'the previous build'}: {changes.get('summary')}."
    return None


def _newer(new: str, old: str) -> bool:
    try:
        return Version(new) > Version(old)
    except InvalidVersion:
        return new > old
