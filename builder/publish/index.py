"""One tag, every platform: the images each platform's release pushed (under its own tags) joined under the build's
plain tags as one OCI image index, through the Registry API; `docker pull` takes the image of its own platform from
it. Only images marked tested join; the index's bytes depend only on its images, so an unchanged night writes the
same index digest, and a dated tag never names another index."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from ..build import provenance, sbom
from ..core import tags
from ..core.errors import PublishError
from ..core.platform import platform
from ..core.variant import Variant
from ..registry.client import RegistryClient
from ..registry.referrers import OCI_INDEX, digest_of, referrers
from ..registry.target import RegistryTarget
from .immutable import dated_tag_holds
from .tested import is_tested
from .zstd import push_twin

ARTIFACTS = {"sbom": sbom.MEDIA_TYPE, "provenance": provenance.MEDIA_TYPE}


class NotYetPushed(PublishError):
    """A platform's image of the build is not in the registry for that date: nothing to join yet."""


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image in the index: its own dated tag, its manifest's digest and its referrers."""

    platform: str
    tag: str
    digest: str
    media_type: str
    size: int  # bytes of its manifest
    artifacts: dict[str, str] = field(default_factory=dict)  # sbom / provenance -> the referrer's digest

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size,
                "platform": platform(self.platform).oci()}


@dataclass(frozen=True)
class Joined:
    variant: str  # the build's id (linux/amd64's, which carries no platform suffix)
    repository: str  # HOST/NS/NAME
    tags: tuple[str, ...]  # the index's tags, the dated one first
    digest: str
    images: tuple[PlatformImage, ...]
    again: bool  # the dated tag already named this index (a re-run, or the other platform's job joined first)


def index_body(images: list[PlatformImage]) -> bytes:
    """The OCI image index of these images: nothing in it but them (no date), so equal images give equal bytes."""
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [i.descriptor() for i in images]}, indent=2).encode()


def join(build: list[Variant], target: RegistryTarget, date: dt.date) -> Joined:
    """Write the index of every platform's image of `build` pushed for `date` under the build's plain tags, the
    dated one first. Refused, before anything is written, when a platform's image is missing or untested, or
    the dated tag names another index."""
    first, client = build[0], target.client
    repository = target.ref.repository(first.image)
    stored = {v.platform: client.manifest_bytes(repository, tags.dated_tag(v, date, "pushed")) for v in build}
    if missing := [v for v in build if stored[v.platform] is None]:  # the usual wait: say it before anything else
        v = missing[0]
        raise NotYetPushed(f"{target.host}/{repository}:{tags.dated_tag(v, date, 'pushed')} is not there: {first.id} "
                           f"has no {' or '.join(m.platform for m in missing)} image for {date} yet, so no index "
                           f"was written: release it (`imgbuild release --variant {v.id} --platform "
                           f"{v.platform}`), then join again")
    images = [_platform_image(target, repository, v, stored[v.platform] or (b"", ""), date) for v in build]
    body = index_body(images)
    digest, index_tags = digest_of(body), tags.index_tags(first, date)
    where = f"{target.host}/{repository}"
    there = dated_tag_holds(client, repository, index_tags[0], digest, fix="release and join again tomorrow",
                            what=f"the index of these images ({', '.join(i.digest[:19] for i in images)})")
    for tag in index_tags:
        written = client.put_manifest(repository, tag, body, OCI_INDEX)
        if written != digest:
            raise PublishError(f"{where}:{tag} was written as {written}, not {digest}: the registry rewrote the "
                               "index; check that it accepts OCI image indexes")
    if target.zstd:  # the index of the twins each platform's push wrote
        push_twin(client, repository, digest, index_tags, {i.digest: tags.zstd_tag(i.tag) for i in images})
    return Joined(variant=first.id, repository=where, tags=tuple(index_tags), digest=digest, images=tuple(images),
                  again=there == digest)


def stand_in(build: list[Variant], target: RegistryTarget, date: dt.date) -> tuple[str, list[str]] | None:
    """While a build waits for its other platforms, its moving plain tags name the first of its platforms whose
    tested image was pushed for `date`, so the plain tag a person pulls exists; the join then points them at the
    index. The dated plain tag is the join's alone, and a plain tag that names an index (every platform, from an
    earlier join) or another platform's image is left as it is: no one loses the image of their machine. Returns
    that platform and the tags written; None when no platform's tested image is there."""
    client = target.client
    repository = target.ref.repository(build[0].image)
    for v in build:
        own = tags.pushed_tags(v, date)
        stored = client.manifest_bytes(repository, own[0])
        if stored is None or not is_tested(client, repository, digest := digest_of(stored[0])):
            continue
        moving = [(plain, mine) for plain, mine in zip(tags.index_tags(v, date)[1:], own[1:], strict=True)
                  if client.manifest_digest(repository, mine) == digest]
        config = json.loads(stored[0]).get("config", {}).get("digest")
        if target.zstd and (twin := client.manifest_bytes(repository, tags.zstd_tag(own[0]))) is not None \
                and json.loads(twin[0]).get("config", {}).get("digest") == config:
            moving += [(tags.zstd_tag(plain), tags.zstd_tag(mine)) for plain, mine in moving]
        written = []
        for plain, mine in moving:  # each plain tag gets what the platform's own tag names (a twin its twin)
            if (found := client.manifest_bytes(repository, mine)) and _free_for(client, repository, plain, v.platform):
                client.put_manifest(repository, plain, found[0], found[1].split(";")[0])
                written.append(plain)
        return v.platform, written
    return None


def _free_for(client: RegistryClient, repository: str, tag: str, platform_name: str) -> bool:
    """Whether a stand-in may write `tag`: it names nothing yet, or an image of the same platform."""
    found = client.manifest_bytes(repository, tag)
    if found is None:
        return True
    manifest = json.loads(found[0])
    if "manifests" in manifest:
        return False
    config = client.config_of(repository, manifest, tag)
    return f"{config.get('os')}/{config.get('architecture')}" == platform_name


def _platform_image(target: RegistryTarget, repository: str, v: Variant, stored: tuple[bytes, str],
                    date: dt.date) -> PlatformImage:
    """One platform's image as the index names it, checked: one image (not an index), tested, of its platform."""
    client, tag = target.client, tags.dated_tag(v, date, "pushed")
    where = f"{target.host}/{repository}:{tag}"
    body, media_type = stored
    digest = digest_of(body)
    manifest = json.loads(body)
    if "manifests" in manifest:
        raise PublishError(f"{where} is an index, not one platform's image: push the {v.platform} image again")
    if not is_tested(client, repository, digest):
        raise PublishError(f"{where} ({digest}) has no passing test on record: `imgbuild release` it (which "
                           "tests before it pushes), then join again")
    config = client.config_of(repository, manifest)
    arch = f"{config.get('os')}/{config.get('architecture')}"
    if arch != v.platform:
        raise PublishError(f"{where} is a {arch} image, not {v.platform}: push the {v.platform} image under it")
    artifacts = {kind: listed[0].digest for kind, kind_type in ARTIFACTS.items()
                 if (listed := referrers(client, repository, digest, kind_type))}
    return PlatformImage(platform=v.platform, tag=tag, digest=digest, media_type=media_type.split(";")[0],
                         size=len(body), artifacts=artifacts)
