"""The multi-platform tags of a release: join each build whose platforms' images are published (publish/index.py)
and keep the record of each index in release.json (`indexes`) and TAGS.md."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..core import tags
from ..core.errors import ImgbuildError
from ..core.output import Reporter
from ..core.variant import Variant, platform_builds
from ..publish.index import Joined, NotYetPushed, join, stand_in
from ..publish.push import PushResult
from ..registry.target import RegistryTarget
from .fields import DIGEST, PLATFORM, TAG, BadField, Fields

WAITING = "waiting"  # a platform's image is not published yet: the plain tags were not touched


@dataclass(frozen=True)
class IndexEntry:
    """One build's multi-platform tags in release.json: the index digest and each platform's image."""

    variant: str  # the build's id (linux/amd64's)
    repository: str
    status: str  # ok | failed | waiting
    error: str | None = None
    tags: tuple[str, ...] = ()
    dated_tag: str | None = None
    digest: str | None = None
    # platform -> {"tag", "digest", "artifacts": {"sbom": digest, "provenance": digest}}
    platforms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, joined: Joined) -> IndexEntry:
        return cls(variant=joined.variant, repository=joined.repository, status="ok", tags=joined.tags,
                   dated_tag=joined.tags[0], digest=joined.digest,
                   platforms={i.platform: {"tag": i.tag, "digest": i.digest, "artifacts": dict(i.artifacts)}
                              for i in joined.images})

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, data: Any) -> IndexEntry:
        """One index as `to_json` wrote it, every field checked (fields.BadField naming the first that is not)."""
        f = Fields(data)
        digest = f.text("digest", grammar=DIGEST)
        platforms = f.nested("platforms")
        return cls(variant=f.text("variant", True), status=f.choice("status", ("ok", "failed", WAITING)),
                   repository=f.repository("repository", host=digest is not None),
                   error=f.text("error", free=True), tags=f.texts("tags", TAG),
                   dated_tag=f.text("dated_tag", grammar=TAG), digest=digest,
                   platforms={} if platforms is None else {p: _platform(platforms, p) for p in platforms.keys(PLATFORM)})


def join_builds(variants: list[Variant], target: RegistryTarget, date: dt.date, reporter: Reporter) -> list[
        IndexEntry]:
    """Join every multi-platform build among `variants`; one build's failure is recorded and the others go on."""
    entries = []
    for build in platform_builds(variants):
        first = build[0]
        repository = f"{target.host}/{target.ref.repository(first.image)}"
        try:
            joined = join(build, target, date)
        except NotYetPushed as exc:
            reporter.info(f"{first.id}: {exc}{_standing_in(build, target, date)}")
            entries.append(IndexEntry(first.id, repository, WAITING, error=str(exc)))
            continue
        except ImgbuildError as exc:
            reporter.info(f"{first.id}: {exc}")
            entries.append(IndexEntry(first.id, repository, "failed", error=str(exc)))
            continue
        reporter.info(f"{first.id}: {repository}:{joined.tags[0]} {'already named' if joined.again else 'names'} "
                      f"the index {joined.digest} of {', '.join(i.platform for i in joined.images)}")
        entries.append(IndexEntry.of(joined))
    return entries


def _standing_in(build: list[Variant], target: RegistryTarget, date: dt.date) -> str:
    """The moving plain tags pointed at the one platform's image there is, said in the waiting line."""
    try:
        found = stand_in(build, target, date)
    except ImgbuildError as exc:
        return f"; its moving plain tags were left as they were ({exc})"
    if not found or not found[1]:
        return ""
    return (f"; until then {', '.join(found[1])} name{'s' if len(found[1]) == 1 else ''} its {found[0]} image "
            "(the dated plain tag waits for the join)")


def join_pushed(results: list[PushResult], known: list[Variant], target: RegistryTarget, reporter: Reporter) -> list[
        IndexEntry]:
    """After `imgbuild push`, as after a release: join each build of the pushed images whose every platform's image
    is published for the date of the pushed dated tag."""
    by_date: dict[dt.date, list[Variant]] = {}
    for result in results:
        if tags.is_dated(day := result.refs[0].tag or ""):  # the dated tag is pushed first
            by_date.setdefault(dt.date.fromisoformat(day[-10:]), []).extend(
                replace(v, image=result.refs[0].name) for v in known if v.id == result.variant)
    return [i for date, pushed in by_date.items() for i in join_builds(pushed, target, date, reporter)]


def catalog_section(indexes: list[IndexEntry]) -> list[str]:
    """TAGS.md's lines for the multi-platform tags."""
    lines: list[str] = []
    for e in (e for e in indexes if e.status == "ok"):
        lines += [f"## {e.variant} · every platform", "",
                  f"One tag for {' and '.join(e.platforms)}: `docker pull` takes the image of its machine "
                  "(`--platform` picks another). Index digest: " + f"`{e.digest}`", "",
                  "| tag | moves? | pull |", "| --- | --- | --- |"]
        lines += [f"| `{t}` | {'no (dated, immutable)' if tags.is_dated(t) else 'yes'} | `docker pull {e.repository}:{t}` |"
                  for t in e.tags]
        lines += [f"| {p} | never | `{e.repository}@{image['digest']}` (tag `{image['tag']}`) |"
                  for p, image in e.platforms.items()] + [""]
    waiting = [e for e in indexes if e.status != "ok"]
    if waiting:
        lines += ["## Multi-platform tags not written", "", *(f"- {e.variant}: {e.error}" for e in waiting), ""]
    return lines


def _platform(platforms: Fields, platform: str) -> dict[str, Any]:
    """One platform's image in an index: its tag, digest and artifacts, as TAGS.md prints them."""
    f = platforms.nested(platform)
    if f is None:
        raise BadField(platforms.name(platform), "is missing")
    return {"tag": f.text("tag", True, TAG), "digest": f.text("digest", True, DIGEST),
            "artifacts": f.text_map("artifacts", DIGEST)}
