"""What the engine hands back: plain values, no docker object."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    size: int = 0
    env: tuple[str, ...] = ()
    user: str = ""
    architecture: str = ""  # the image config's: amd64, arm64
    layers: tuple[str, ...] = ()  # the layers' diff ids (uncompressed digests), base first


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str
