"""Checks that take seconds and run before the first build of `release` (and before `push`): a registry that
does not answer, refused credentials, a base image that cannot be had or a full disk fail here, in one line,
instead of after an hour of building."""

from __future__ import annotations

from collections.abc import Iterable

from ..core.contract import UID, USER
from ..core.errors import ConfigError, DaemonError, RegistryError
from ..core.platform import DEFAULT_PLATFORM, engine_platform, platform
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..registry.target import RegistryTarget
from .base_traits import BaseTraits, check_base, read_traits
from .checks import disk_check

BASE_FIX = "make one from this host's apt sources with `imgbuild base` and pass the --base-image it prints"


def check_registry(target: RegistryTarget) -> None:
    """A real round trip: the registry answers and accepts the credentials (nothing is pushed)."""
    try:
        target.client.check_login(retries=1, timeout=15)  # fail in seconds, not after the client's backoff
    except RegistryError as exc:
        raise RegistryError(f"preflight: {exc}") from None


def check_base_images(engine: Engine, base_images: Iterable[tuple[str, str]]) -> list[str]:
    """Each base image, as (reference, platform), is here for its platform or can be pulled for it now (the build's
    first step would pull it anyway)."""
    pulled = []
    for ref, target in sorted(set(base_images)):
        info = engine.image(ref)
        if info is None:
            try:
                engine.pull(ref, platform=engine_platform(target))
            except DaemonError as exc:
                raise ConfigError(f"preflight: base image {ref} is not on this host and cannot be pulled ({exc}): "
                                  f"{BASE_FIX}{_for(target)}") from None
            pulled.append(ref)
            info = engine.image(ref)
        wanted = platform(target).architecture
        # an image that states no architecture is left to the build; a foreign build needs it stated
        if info is not None and (info.architecture or target != DEFAULT_PLATFORM) and info.architecture != wanted:
            raise ConfigError(f"preflight: base image {ref} is {info.architecture or 'of no stated architecture'}, "
                              f"not {wanted}, so it cannot start a {target} build: {BASE_FIX}{_for(target)}")
    return pulled


def before_build(engine: Engine, variants: Iterable[Variant]) -> list[str]:
    """The engine's builder (an engine that cannot build these Dockerfiles is refused now), then the bases; returns
    the lines that say what builds and what each base holds."""
    return [f"engine: {engine.describe_builder()}", *check_bases(engine, variants)]


def check_bases(engine: Engine, variants: Iterable[Variant]) -> list[str]:
    """Each variant's base is here (or pulled) for its platform and is one its Dockerfile builds on; returns one line
    per base and Python of what the build meets in it. A base that cannot work is refused before anything is built."""
    variants = list(variants)
    check_base_images(engine, [(v.base_image, v.platform) for v in variants])
    traits: dict[str, BaseTraits] = {}
    lines: list[str] = []
    for variant in variants:
        if variant.base_image not in traits:
            traits[variant.base_image] = read_traits(engine, variant.base_image, UID)
        line = check_base(traits[variant.base_image], variant.python, USER, UID)
        if line not in lines:
            lines.append(line)
    return lines


def _for(target: str) -> str:
    return "" if target == DEFAULT_PLATFORM else f" (`imgbuild base --platform {target}`)"


def check_disk(engine: Engine, flavors: Iterable[str]) -> None:
    check = disk_check(engine.info(), flavors)
    if check.ok is False:
        raise DaemonError(f"preflight: {check.detail}: {check.fix}")


def before_release(engine: Engine, target: RegistryTarget, variants: Iterable[Variant]) -> list[str]:
    """Registry first (seconds, and the most common failure), then disk, then the base images (may pull); returns
    what the builds meet in their bases (`check_bases`)."""
    variants = list(variants)
    check_registry(target)
    check_disk(engine, {v.flavor for v in variants})
    return before_build(engine, variants)
