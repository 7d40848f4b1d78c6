"""The multi-platform tags of a release: join each build whose platforms' images are published (publish/index.py)
and keep the record of each index in release.json (`indexes`) and TAGS.md."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core import tags
from ..core.errors import ImgbuildError, PublishError
from ..core.output import Reporter
from ..core.variant import Variant
from ..publish.index import Joined, NotYetPushed, builds, join
from ..publish.push import PushResult
from ..registry.target import RegistryTarget

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
        if not isinstance(data, dict):
            raise TypeError(f"an index entry is a {type(data).__name__}, not a mapping")
        return cls(variant=str(data["variant"]), repository=str(data["repository"]), status=str(data["status"]),
                   error=data.get("error"), tags=tuple(data.get("tags") or ()), dated_tag=data.get("dated_tag"),
                   digest=data.get("digest"), platforms=dict(data.get("platforms") or {}))


def join_builds(variants: list[Variant], target: RegistryTarget, date: dt.date, reporter: Reporter) -> list[
        IndexEntry]:
    """Join every multi-platform build among `variants`; one build's failure is recorded and the others go on."""
    entries = []
    for build in builds(variants):
        first = build[0]
        repository = f"{target.host}/{target.ref.repository(first.image)}"
        try:
            joined = join(build, target, date)
        except NotYetPushed as exc:
            reporter.info(f"{first.id}: {exc}")
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


def read_indexes(path: Path) -> list[IndexEntry]:
    """The `indexes` of one release.json ([] for a file written before there were any)."""
    return _read(path)[1]


def merge_indexes(in_dir: Path) -> list[IndexEntry]:
    """The newest record of each (repository, build) across the release.json files under `in_dir` (a join job after
    the platforms' jobs), ok over waiting; each file read once."""
    newest: dict[tuple[str, str], IndexEntry] = {}
    for _, entries in sorted((_read(path) for path in Path(in_dir).rglob("release.json")), key=lambda r: r[0]):
        for entry in entries:
            key = (entry.repository, entry.variant)
            if key not in newest or entry.status != WAITING or newest[key].status == WAITING:
                newest[key] = entry
    return sorted(newest.values(), key=lambda e: (e.variant, e.repository))


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


def _read(path: Path) -> tuple[str, list[IndexEntry]]:
    """When a release.json was generated, and its indexes."""
    try:
        data = json.loads(path.read_text())
        return str(data.get("generated", "")), [IndexEntry.from_json(d) for d in data.get("indexes") or []]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PublishError(f"{path} is not a release manifest ({exc}): remove it or re-run its job") from None
