"""The Image a build returns and `push` takes: a local image id and every tag it carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import tags
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.values import ImageInfo


@dataclass(frozen=True)
class Image:
    """A local image and every tag it carries: what a build returns and what `push` takes."""

    id: str
    ref: ImageRef  # the name to use it by: the release tag after a build, the user's reference for `push IMAGE`
    refs: tuple[ImageRef, ...]  # every tag of it in its repository, the dated one first
    labels: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    variant: Variant | None = None  # known when imgbuild built it in this run
    seconds: float = 0.0
    log: Path | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(r.tag for r in self.refs if r.tag)

    @classmethod
    def from_info(cls, ref: ImageRef, info: ImageInfo) -> Image:
        """An image the engine has: every tag it carries in `ref`'s repository (the dated one first)."""
        mine = [parsed for t in info.tags if (parsed := ImageRef.parse(t)).same_repository(ref)]
        ordered = sorted(mine, key=lambda r: not tags.is_dated(r.tag or ""))
        return cls(id=info.id, ref=ref, refs=tuple(ordered) or (ref,), labels=dict(info.labels), size=info.size)
