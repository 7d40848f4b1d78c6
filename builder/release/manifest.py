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
from ..core.errors import writing
from ..core.paths import claim
from ..core.reference import RegistryRef
from ..core.variant import Additions, Variant
from ..publish.push import PushResult
from ..smoke.report import SmokeReport
from .catalog import CATALOG_TITLE, render_catalog
from .fields import DIGEST, TAG, Fields
from .indexes import IndexEntry

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

    @classmethod
    def read(cls, f: Fields) -> SmokeSummary:
        figures = f.nested("figures")
        return cls(passed=f.flag("passed"), counts=f.numbers("counts"), figures=figures.data if figures else {},
                   gpu_tier=f.flag("gpu_tier"), seconds=f.number("seconds", required=True))


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

    @classmethod
    def read(cls, f: Fields) -> PushSummary:
        return cls(*(f.number(k, whole=True, required=True) for k in ("layers_pushed", "layers_existing",
                                                                    "bytes_pushed")), f.number("seconds", required=True))


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
    team: Additions | None = None  # a team's image (README, "Your team's image"); None for the variant's own
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
        """One entry as `to_json` wrote it, every field checked (fields.BadField naming the first that is not)."""
        f = Fields(data)
        digest = f.text("digest", grammar=DIGEST)
        smoke, push, team, changes = f.nested("smoke"), f.nested("push"), f.nested("team"), f.nested("changes")
        if changes is not None:  # the two fields TAGS.md and the nightly summary print
            changes.text("since")
            changes.text("summary", free=True)
        # Free text: errors, and labels (a base image's may span lines); only TAGS.md shows them, never `digests`.
        return cls(variant=f.text("variant", True), status=f.choice("status", ("ok", "failed", NOT_LOCKED)),
                   # a digest is pushed to a registry: what `digests` prints, REPOSITORY@DIGEST, names its host
                   repository=f.repository("repository", host=digest is not None),
                   error=f.text("error", free=True), image=f.text("image"), tags=f.texts("tags", TAG),
                   dated_tag=f.text("dated_tag", grammar=TAG), digest=digest,
                   artifacts=f.text_map("artifacts", DIGEST), image_id=f.text("image_id"),
                   labels=f.text_map("labels", free=True), smoke=None if smoke is None else SmokeSummary.read(smoke),
                   build_seconds=f.number("build_seconds"), size=f.number("size", whole=True),
                   push=None if push is None else PushSummary.read(push),
                   inputs_digest=f.text("inputs_digest"), unchanged_since=f.text("unchanged_since"),
                   rebuilt_because=f.text("rebuilt_because", free=True), changes=changes and changes.data,
                   tested_marker=f.text("tested_marker", free=True),
                   team=None if team is None else Additions(base=team.text("base", True), pip=team.texts("pip"),
                                                            apt=team.texts("apt")),
                   zstd_digest=f.text("zstd_digest", grammar=DIGEST))


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
        team=variant.kind.additions(variant, tags.local_ref),
        zstd_digest=push.zstd.digest if push and push.zstd else None,
        tested_marker=push.tested_marker if push else None)


def not_locked_entry(variant: Variant, registry: RegistryRef | None, reason: str) -> ReleaseEntry:
    """A variant the run could not build: it has no current lock (`reason` names the command that makes one)."""
    repository = f"{registry.host}/{registry.repository(variant.image)}" if registry else tags.local_repository(variant)
    return ReleaseEntry(variant=variant.id, image=variant.image, repository=repository, status=NOT_LOCKED,
                        error=reason, labels=tags.variant_labels(variant),
                        team=variant.kind.additions(variant, tags.local_ref))


def write_release(entries: list[ReleaseEntry], out_dir: Path, indexes: Sequence[IndexEntry] = ()) -> tuple[Path, Path]:
    """Write release.json and TAGS.md into `out_dir`: the images, and the multi-platform indexes; both paths."""
    out_dir = Path(out_dir)
    generated = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    manifest, catalog = release_files(out_dir)
    # Both rendered before either is written: a failure leaves neither file, never release.json without TAGS.md.
    texts = (json.dumps({"generated": generated, "images": [e.to_json() for e in entries],
                         "indexes": [i.to_json() for i in indexes]}, indent=2) + "\n",
             render_catalog(entries, generated, list(indexes)))
    with writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest.write_text(texts[0])
        catalog.write_text(texts[1])
    return manifest, catalog


def release_files(out_dir: Path) -> tuple[Path, Path]:
    """release.json and TAGS.md in `out_dir`, each absent or written by imgbuild (a user's file is never replaced)."""
    return claim(Path(out_dir) / RELEASE_FILE, '"images"'), claim(Path(out_dir) / CATALOG_FILE, CATALOG_TITLE)
