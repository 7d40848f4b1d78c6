"""The multi-platform tags as commands run them: after `imgbuild push` (the pushed images' builds joined, then what a
team pins) and `imgbuild join` (the nightly's last step: every selected build joined and recorded in release.json)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import ConfigError, PublishError, writing
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..core.variant import Variant, platform_builds
from ..engine.daemon import Engine
from ..host.preflight import check_registry
from ..publish.push import PushResult, push_local
from ..registry.target import RegistryTarget
from .indexes import IndexEntry, join_builds, join_pushed
from .releasefile import record_indexes, recorded


@dataclass(frozen=True)
class Pushed:
    """What `imgbuild push` did: each image's push, then what a team pins (the joined indexes' dated tags first)."""

    results: tuple[PushResult, ...]
    pinned: tuple[ImageRef, ...]


def push_and_join(refs: list[ImageRef], engine: Engine, target: RegistryTarget, reporter: Reporter, *,
                  allow_untested: bool, variants: Sequence[Variant]) -> Pushed:
    """Push each tested image (publish/push.py), then join each build whose every platform's image is now published.
    `variants`: every image of the matrix, each platform's: an image's variant says which tags it is pushed under."""
    results = push_local(refs, engine, target, reporter, allow_untested=allow_untested, variants=variants)
    joined = [i for i in join_pushed(results, list(variants), target, reporter) if i.status == "ok"]
    pins = [replace(ImageRef.parse(f"{i.repository}:{i.dated_tag}"), digest=i.digest) for i in joined]
    return Pushed(tuple(results), tuple(pins + [replace(result.refs[0], digest=result.digest) for result in results]))


@dataclass(frozen=True)
class JoinOutcome:
    """What `imgbuild join` wrote: each build's index (or why not) and the release.json that records them."""

    day: dt.date
    indexes: tuple[IndexEntry, ...]
    manifest: Path

    @property
    def written(self) -> list[IndexEntry]:
        return [i for i in self.indexes if i.status == "ok"]

    def check(self) -> None:
        """The failure policy: a build left without its plain tags fails the run (after the others were written)."""
        if left := [i for i in self.indexes if i.status != "ok"]:
            raise PublishError(f"{len(left)} of {len(self.indexes)} builds have no multi-platform tags for "
                               f"{self.day}: {left[0].variant}: {left[0].error}"
                               + (f" (all in {self.manifest})" if len(left) > 1 else ""))


def join_release(variants: list[Variant], day: dt.date, out: Path, registry: str | None,
                 open_target: Callable[[str | None], RegistryTarget], reporter: Reporter) -> JoinOutcome:
    """Join every selected multi-platform build for `day` and record the indexes in OUT/release.json. `open_target`
    opens --registry (None: the local registry, started when needed), each at its turn below."""
    if not platform_builds(variants):
        raise ConfigError("none of the selected builds is made for more than one platform (matrix.yaml `platforms:`)"
                          ": select one that is, e.g. `imgbuild matrix --platform all`")
    # A user's release.json there, a damaged one of ours, or a folder that cannot be made: refused before any tag
    # is written (the registry's plain tags would move, and then nothing would record it).
    target = open_target(registry) if registry else None  # a bad --registry before any folder is made
    before = recorded(out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    target = target or open_target(None)
    check_registry(target)
    indexes = join_builds(variants, target, day, reporter)
    manifest, _ = record_indexes(indexes, out, before)
    return JoinOutcome(day, tuple(indexes), manifest)
