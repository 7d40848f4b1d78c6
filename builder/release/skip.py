"""Skip what did not change: before a build, compare the variant's inputs digest with the image its moving tag
names in the registry. Equal inputs, a tested image and not too old: write today's tags onto the same manifest
(the same bytes PUT under new tags: no layer moves) instead of building, testing and pushing.

"Tested" is the registry-side marker publish/tested.py writes after a passing image is pushed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

from ..build.build import base_digest, prepare
from ..build.options import BuildOptions
from ..core import tags
from ..core.errors import PublishError, RegistryError
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..publish.immutable import dated_tag_holds
from ..publish.tested import is_tested
from ..publish.zstd import push_twin
from ..registry.client import RegistryClient
from ..registry.target import RegistryTarget
from ..render.inputs import INPUTS_LABEL, inputs_digest
from .diff import CREATED_LABEL, compare, side_from_labels
from .manifest import PushSummary, ReleaseEntry


@dataclass(frozen=True)
class Previous:
    """The image the variant's moving tag names in the registry."""

    repository: str
    digest: str
    manifest: bytes
    media_type: str
    labels: dict[str, str]
    size: int  # compressed bytes of its layers
    tested: bool

    @property
    def created(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(self.labels.get(CREATED_LABEL, ""))
        except ValueError:
            return None


@dataclass(frozen=True)
class Decision:
    unchanged: bool
    reason: str  # why it is (not) rebuilt, for the log and release.json
    inputs_digest: str
    previous: Previous | None


def read_previous(client: RegistryClient, repository: str, tag: str) -> Previous | None:
    found = client.manifest_bytes(repository, tag)
    if found is None:
        return None
    body, media_type = found
    manifest = json.loads(body)
    if "manifests" in manifest:  # an index (multi-platform, attestations): not ours to retag; rebuild
        return None
    digest = client.manifest_digest(repository, tag) or ""
    labels = (client.config(repository, tag).get("config") or {}).get("Labels") or {}
    size = sum(int(layer.get("size") or 0) for layer in manifest.get("layers") or [])
    tested = is_tested(client, repository, digest)
    return Previous(repository=repository, digest=digest, manifest=body, media_type=media_type.split(";")[0],
                    labels=dict(labels), size=size, tested=tested)


def decide(previous: Previous | None, new_inputs: str, today: dt.date, *, max_age: int, rebuild: bool) -> Decision:
    def build(reason: str) -> Decision:
        return Decision(False, reason, new_inputs, previous)

    if rebuild:
        return build("--rebuild")
    if previous is None:
        return build("not in the registry yet")
    if INPUTS_LABEL not in previous.labels:
        return build("the registry's image has no inputs digest label")
    if previous.labels[INPUTS_LABEL] != new_inputs:
        return build("inputs changed")
    if not previous.tested:
        return build("the registry's image has no passing test on record")
    created = previous.created
    if created is None:
        return build("the registry's image has no created date")
    age = (today - created.date()).days
    if age > max_age:
        return build(f"built {age} days ago (--max-age {max_age})")
    return Decision(True, f"unchanged since {created.date().isoformat()}", new_inputs, previous)


def check(variant: Variant, engine: Engine, options: BuildOptions, target: RegistryTarget, *, max_age: int,
          rebuild: bool) -> Decision | None:
    """Render the variant and compare its inputs with its moving tag in the registry (no build, no pull). None: its
    kind is always built (a team's image: its inputs digest cannot see the local image it is built FROM)."""
    if not variant.kind.retags_unchanged:
        return None
    ctx = prepare(variant, options)
    digest = inputs_digest(ctx.path, base_digest(engine, variant.base_image))
    repository = target.ref.repository(variant.image)
    try:
        # The platform's moving tag; before a build had several platforms, its plain tag named this image.
        previous = None
        for tag in dict.fromkeys((tags.release_tag(variant, "pushed"), tags.release_tag(variant))):
            if (previous := read_previous(target.client, repository, tag)) is not None:
                break
    except RegistryError as exc:  # build anyway: the push says plainly what is wrong with the registry
        return Decision(False, f"cannot read the registry ({exc})", digest, None)
    return decide(previous, digest, options.date, max_age=max_age, rebuild=rebuild)


def retag(client: RegistryClient, previous: Previous, new_tags: list[str]) -> list[str]:
    """PUT the same manifest bytes under every tag; a dated tag that names another digest is refused first."""
    for tag in new_tags:
        dated_tag_holds(client, previous.repository, tag, previous.digest, fix="re-run tomorrow",
                        what=f"the unchanged image {previous.digest}")
    ordered = sorted(new_tags, key=lambda t: not tags.is_dated(t))  # the immutable tag first, as a push does
    for tag in ordered:
        written = client.put_manifest(previous.repository, tag, previous.manifest, previous.media_type)
        if written != previous.digest:
            raise PublishError(f"{client.host}/{previous.repository}:{tag} was written as {written}, not "
                               f"{previous.digest}: the registry rewrote the manifest; rebuild with --rebuild")
    return ordered


def unchanged_entry(variant: Variant, decision: Decision, target: RegistryTarget, date: dt.date) -> ReleaseEntry:
    """Retag the unchanged image with today's tags; its release.json record."""
    previous = decision.previous
    assert previous is not None and decision.unchanged
    written = retag(target.client, previous, tags.pushed_tags(variant, date))
    # Its twin too: yesterday's, which the moving zstd tags still name, under today's tags.
    twin = push_twin(target.client, previous.repository, previous.digest, written) if target.zstd else None
    created = previous.created
    return ReleaseEntry(
        variant=variant.id, image=variant.image, repository=f"{target.host}/{previous.repository}", status="ok",
        tags=tuple(written), dated_tag=next((t for t in written if tags.is_dated(t)), None), digest=previous.digest,
        labels=previous.labels, build_seconds=0.0, size=previous.size,
        push=PushSummary(layers_pushed=0, layers_existing=0, bytes_pushed=0, seconds=0.0),
        inputs_digest=decision.inputs_digest, unchanged_since=created.date().isoformat() if created else None,
        zstd_digest=twin.digest if twin else None)


def after_push(decision: Decision, entry: ReleaseEntry) -> ReleaseEntry:
    """Note in a pushed image's record what changed since the last one, and why it was rebuilt."""
    if not entry.published or entry.digest is None:
        return entry
    changes = None
    if decision.previous is not None:
        old = side_from_labels(decision.previous.digest, decision.previous.labels)
        diff = compare(old, side_from_labels(entry.digest, dict(entry.labels)))
        created = decision.previous.created
        changes = {"since": created.date().isoformat() if created else None,
                   "previous_digest": decision.previous.digest, "summary": diff.summary(),
                   "diff": json.loads(diff.to_json())}
    return replace(entry, inputs_digest=decision.inputs_digest, rebuilt_because=decision.reason, changes=changes)
