"""The build cache a nightly's runners share, in a registry (--cache-registry): each build imports its own entry and
its group's, and exports to both, so the first job of a night to build an OS and CUDA layer builds it for all."""

from __future__ import annotations

import hashlib

from ..core.platform import platform
from ..core.variant import Variant
from ..engine.buildkit import Cache
from ..render.dockerfile import cache_key


def registry_cache(variant: Variant, repository: str | None) -> Cache:
    """Two tags in `repository`: the image's own (its last build: every layer of it) and its group's (one base,
    CUDA and platform: the OS and CUDA layers every Python and torch release of the group shares)."""
    if not repository:
        return Cache()
    refs = (f"{repository}:{_tag(variant.name)}",
            f"{repository}:{_tag(f'{cache_key(variant.base_image)}-{variant.cuda_tag}-{platform(variant.platform).architecture}')}")
    return Cache(sources=refs, targets=refs)


def _tag(text: str) -> str:
    """A valid tag (at most 128 characters): long ones keep a readable head and a hash of the whole."""
    return text if len(text) <= 128 else f"{text[:111]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
