"""The release manifest (`release.json`: each tag and its digest) and the catalog a team reads (`TAGS.md`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..build.image import Image
from ..core import tags
from ..core.errors import ConfigError, PublishError, writing
from ..core.paths import claim
from ..core.reference import RegistryRef
from ..core.variant import Variant
from ..publish.push import PushResult
from ..smoke.report import SmokeReport
from .catalog import CATALOG_TITLE, render_catalog
from .indexes import IndexEntry, read_indexes

RELEASE_FILE, CATALOG_FILE = "release.json", "TAGS.md"
NOT_LOCKED = "not-locked"


@dataclass(frozen=True)
class SmokeSummary:
    passed: bool
    counts: Mapping[str, int]
    figures: Mapping[str, Any]
    gpu_tier: bool
    seconds: float

    @classmethod
    def of(cls, report: SmokeReport) -> SmokeSummary:
        return cls(passed=report.passed, counts=report.counts(), figures=dict(report.figures),
                   gpu_tier=report.gpu_tier, seconds=round(report.seconds, 1))


@dataclass(frozen=True)
class PushSummary:
    layers_pushed: int
    layers_existing: int
    bytes_pushed: int
    seconds: float

    @classmethod
    def of(cls, push: PushResult) -> PushSummary:
        return cls(layers_pushed=push.layers_pushed, layers_existing=push.layers_existing,
                   bytes_pushed=push.bytes_pushed, seconds=round(push.seconds, 1))


@dataclass(frozen=True)
class TeamSummary:
    """What a team's image adds to the variant's own image (README, "Your team's image")."""

    base: str  # the local image it was built FROM
    pip: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()

    @classmethod
    def of(cls, variant: Variant) -> TeamSummary | None:
        """What the image adds on top of the image of ours it is built FROM; None where it is built on the base."""
        parent = variant.kind.parent(variant)
        if parent is None:
            return None
        return cls(base=tags.local_ref(parent), pip=variant.kind.pip, apt=variant.kind.apt)


@dataclass(frozen=True)
class ReleaseEntry:
    """One variant's line of `release.json`: its tags and digest, or why it was not published."""

    variant: str
    repository: str  # HOST/NS/NAME it was pushed to (the local repository when there is no registry)
    status: str  # ok | failed | not-locked (no current lock: nothing was built)
    error: str | None = None
    image: str | None = None  # the repository's last component, e.g. "pytorch"
    tags: tuple[str, ...] = ()
    dated_tag: str | None = None
    digest: str | None = None
    artifacts: Mapping[str, str] = field(default_factory=dict)  # sbom / provenance -> the referrer's digest
    image_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    smoke: SmokeSummary | None = None
    build_seconds: float | None = None
    size: int | None = None
    push: PushSummary | None = None
    inputs_digest: str | None = None  # io.imgbuild.inputs.digest: what went into the image
    unchanged_since: str | None = None  # not rebuilt: the date of the build these tags name
    rebuilt_because: str | None = None
    changes: Mapping[str, Any] | None = None  # since the previous build: {"since", "summary", "diff", ...}
    tested_marker: str | None = None  # why the registry-side "tested" marker could not be written
    team: TeamSummary | None = None  # a team's image; None for the variant's own
    zstd_digest: str | None = None  # the same image in zstd layers, under every tag + "-zstd" (publish/zstd.py)

    @property
    def published(self) -> bool:
        return self.status == "ok" and bool(self.digest)

    @property
    def outcome(self) -> str:
        """What the night did with it: built, unchanged (retagged), failed or not locked."""
        if self.status == NOT_LOCKED:
            return "not locked"
        if not self.published:
            return "failed"
        return "unchanged" if self.unchanged_since else "built"

    @property
    def tier(self) -> str:
        """The smoke tier the published digest passed: "GPU" (CPU cases too) or "CPU"; "" when untested."""
        if self.smoke is None:
            return "CPU" if self.unchanged_since else ""  # retagged only because its digest was marked tested
        if not self.smoke.passed:
            return ""
        return "GPU" if self.smoke.gpu_tier else "CPU"

    @property
    def name(self) -> str:
        """The variant id; a team's image (which shares the id with the variant's own) adds its name."""
        return f"{self.variant} · {self.image} (team image)" if self.team else self.variant

    def to_json(self) -> dict[str, Any]:
        data = {**asdict(self), "tags": list(self.tags)}
        if self.team is None:
            del data["team"]  # the variants' own images read as before
        else:
            data["team"] = {**data["team"], "pip": list(self.team.pip), "apt": list(self.team.apt)}
        return data

    @classmethod
    def from_json(cls, data: Any) -> ReleaseEntry:
        """One entry as `to_json` wrote it (a TypeError/KeyError/ValueError when it is not one)."""
        if not isinstance(data, dict):
            raise TypeError(f"an image entry is a {type(data).__name__}, not a mapping")
        smoke, push, team = data.get("smoke"), data.get("push"), data.get("team")
        return cls(variant=str(data["variant"]), repository=str(data["repository"]), status=str(data["status"]),
                   error=data.get("error"), image=data.get("image"), tags=tuple(data.get("tags") or ()),
                   dated_tag=data.get("dated_tag"), digest=data.get("digest"),
                   artifacts=dict(data.get("artifacts") or {}), image_id=data.get("image_id"),
                   labels=dict(data.get("labels") or {}), smoke=SmokeSummary(**smoke) if smoke else None,
                   build_seconds=data.get("build_seconds"), size=data.get("size"),
                   push=PushSummary(**push) if push else None, inputs_digest=data.get("inputs_digest"),
                   unchanged_since=data.get("unchanged_since"), rebuilt_because=data.get("rebuilt_because"),
                   changes=data.get("changes"), tested_marker=data.get("tested_marker"),
                   team=TeamSummary(base=str(team["base"]), pip=tuple(team.get("pip") or ()),
                                    apt=tuple(team.get("apt") or ())) if team else None,
                   zstd_digest=data.get("zstd_digest"))


def release_entry(variant: Variant, registry: RegistryRef | None, *, image: Image | None = None,
                  report: SmokeReport | None = None, push: PushResult | None = None,
                  error: str | None = None) -> ReleaseEntry:
    """One variant's record, whatever stage it reached: `image` None means its build failed (with `error`)."""
    if error is None and report is not None and not report.passed:
        error = f"smoke test failed ({report.counts()['failed']} cases)"
    if error is None and registry is not None and push is None:
        error = "not pushed"
    if error is None and image is None:
        error = "not built"
    repository = f"{registry.host}/{registry.repository(variant.image)}" if registry else tags.local_repository(variant)
    tag_names = tuple(r.tag for r in push.refs if r.tag) if push else image.tags if image else ()
    return ReleaseEntry(
        variant=variant.id, image=variant.image, repository=repository, status="failed" if error else "ok",
        error=error, tags=tag_names, dated_tag=next((t for t in tag_names if tags.is_dated(t)), None),
        digest=push.digest if push else None, artifacts=dict(push.artifacts) if push else {},
        image_id=image.id if image else None,
        labels=dict(push.labels) if push and push.labels else tags.variant_labels(variant),
        smoke=SmokeSummary.of(report) if report else None,
        build_seconds=round(image.seconds, 1) if image else None, size=image.size if image else None,
        push=PushSummary.of(push) if push else None,
        inputs_digest=(push.labels or {}).get("io.imgbuild.inputs.digest") if push else None,
        team=TeamSummary.of(variant), zstd_digest=push.zstd.digest if push and push.zstd else None)


def not_locked_entry(variant: Variant, registry: RegistryRef | None, reason: str) -> ReleaseEntry:
    """A variant the run could not build: it has no current lock (`reason` names the command that makes one)."""
    repository = f"{registry.host}/{registry.repository(variant.image)}" if registry else tags.local_repository(variant)
    return ReleaseEntry(variant=variant.id, image=variant.image, repository=repository, status=NOT_LOCKED,
                        error=reason, labels=tags.variant_labels(variant), team=TeamSummary.of(variant))


def write_release(entries: list[ReleaseEntry], out_dir: Path, indexes: Sequence[IndexEntry] = ()) -> tuple[Path, Path]:
    """Write release.json and TAGS.md into `out_dir`: the images, and the multi-platform indexes; both paths."""
    out_dir = Path(out_dir)
    generated = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    manifest, catalog = release_files(out_dir)
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps({"generated": generated, "images": [e.to_json() for e in entries],
                                        "indexes": [i.to_json() for i in indexes]}, indent=2) + "\n")
        catalog.write_text(render_catalog(entries, generated, list(indexes)))
    return manifest, catalog


def record_indexes(indexes: list[IndexEntry], out_dir: Path) -> tuple[Path, Path]:
    """Add `indexes` to the release.json in `out_dir` (its images and other indexes kept), or start one."""
    manifest, _ = release_files(out_dir)
    images = merge_releases(out_dir, recursive=False) if manifest.exists() else []
    kept = [i for i in (read_indexes(manifest) if manifest.exists() else [])
            if (i.repository, i.variant) not in {(n.repository, n.variant) for n in indexes}]
    return write_release(images, out_dir, sorted(kept + indexes, key=lambda i: (i.variant, i.repository)))


def release_files(out_dir: Path) -> tuple[Path, Path]:
    """release.json and TAGS.md in `out_dir`, each absent or written by imgbuild (a user's file is never replaced)."""
    return claim(Path(out_dir) / RELEASE_FILE, '"images"'), claim(Path(out_dir) / CATALOG_FILE, CATALOG_TITLE)


def merge_releases(in_dir: Path, *, recursive: bool = True) -> list[ReleaseEntry]:
    """Every image of every release.json under `in_dir` (one per nightly job), the newest record of each
    (repository, variant) kept, sorted by variant id."""
    newest: dict[tuple[str, str], tuple[str, ReleaseEntry]] = {}
    for path in sorted(Path(in_dir).rglob(RELEASE_FILE) if recursive else Path(in_dir).glob(RELEASE_FILE)):
        try:
            data = json.loads(path.read_text())
            generated = str(data.get("generated", ""))
            images = [ReleaseEntry.from_json(entry) for entry in data["images"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublishError(f"{path} is not a release manifest ({exc}): remove it or re-run its job") \
                from None
        for entry in images:
            key = (entry.repository, entry.variant)
            if key not in newest or generated >= newest[key][0]:
                newest[key] = (generated, entry)
    ordered = sorted(newest.values(), key=lambda g: (g[1].variant, g[1].repository))
    return [entry for _, entry in ordered]


def read_releases(in_dir: Path) -> list[ReleaseEntry]:
    """What `catalog`, `digests` and `nightly-summary` read: the merged releases under `in_dir`, which must hold at
    least one image (a nightly must never sign, scan or summarise nothing and stay green)."""
    if not Path(in_dir).is_dir():
        raise ConfigError(f"--in {in_dir} is not a folder: pass the folder the nightly's release fragments were "
                          "downloaded into")
    entries = merge_releases(in_dir)
    if not entries:
        raise ConfigError(f"no {RELEASE_FILE} with any image under {in_dir}: pass the folder holding the "
                          "fragments `imgbuild release` wrote")
    return entries
