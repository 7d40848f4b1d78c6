"""Rebuild a published image from this checkout and compare: anyone can check a tag against the repository.

The published image's labels say what it was built from (its variant, the source revision, the base and its digest,
the build time); the rebuild takes the same from this checkout and this engine, refuses in one line where they are
not the same (another revision, another base digest), builds at the published time and compares digests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass

from ..build.build import base_digest, build
from ..build.options import BuildOptions, check_options, revision
from ..core.errors import ConfigError, PublishError, RegistryError
from ..core.output import Reporter
from ..core.platform import of_machine
from ..core.reference import ImageRef
from ..core.tags import VARIANT_LABEL
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..matrix.load import Matrix
from ..registry.client import RegistryClient
from ..registry.referrers import digest_of
from ..render.inputs import BASE_DIGEST_LABEL

CREATED, REVISION, BASE_NAME = ("org.opencontainers.image.created", "org.opencontainers.image.revision",
                                "org.opencontainers.image.base.name")


@dataclass(frozen=True)
class Reproduction:
    published: str  # HOST/NS/NAME@sha256:... of the platform's image
    config: str  # the published image config's digest: the content, whatever the layers' compression
    rebuilt: str  # the local image id (the manifest digest in the containerd image store, else the config's)
    differing: tuple[int, ...]  # the layers (0: the base's first) whose content differs

    @property
    def same(self) -> bool:
        return self.rebuilt in (self.published.split("@")[-1], self.config) and not self.differing

    def check(self) -> str:
        """The line that says the outcome; a rebuild that differs is a failed check (exit 6)."""
        return check(self)


def reproduce(ref: ImageRef, matrix: Matrix, engine: Engine, options: BuildOptions,
              reporter: Reporter) -> Reproduction:
    """Rebuild the image `ref` names (for this engine's platform) at its own build time and compare."""
    client = RegistryClient.open(ref.registry or "")
    native = of_machine(os.uname().machine)  # built natively: this machine's platform
    arch = native.architecture if native else os.uname().machine
    digest, manifest = _platform_image(client, ref, arch)
    config = client.config_of(ref.repository, manifest, ref.reference)
    labels = (config.get("config") or {}).get("Labels") or {}
    variant = _variant(matrix, labels, ref)
    if labels.get(REVISION) != (here := revision()):
        raise ConfigError(f"{ref} was built from revision {labels.get(REVISION, '?')}, this checkout is {here}: "
                          f"`git checkout {labels.get(REVISION, '')}` and run again")
    variant = dataclasses.replace(variant, base_image=labels.get(BASE_NAME) or variant.base_image)
    if (local := base_digest(engine, variant.base_image)) != labels.get(BASE_DIGEST_LABEL):
        raise ConfigError(f"{ref} was built on {variant.base_image} {labels.get(BASE_DIGEST_LABEL, '?')}, this engine "
                          f"has {local}: pull that digest and tag it {variant.base_image}, then run again")
    try:
        created = dt.datetime.fromisoformat(labels[CREATED])
    except (KeyError, ValueError):
        raise ConfigError(f"{ref} carries no build time ({CREATED}): imgbuild did not build it") from None
    check_options([variant], options)  # the variant is known only now, from the image's labels
    reporter.info(f"rebuilding {variant.id} as of {labels[CREATED]} from revision {here[:12]}")
    image = build(variant, engine, dataclasses.replace(options, created=created), reporter)
    rebuilt = engine.image(image.id)
    theirs = tuple((config.get("rootfs") or {}).get("diff_ids") or ())
    mine = rebuilt.layers if rebuilt else ()
    differing = tuple(i for i in range(max(len(theirs), len(mine)))
                      if i >= len(theirs) or i >= len(mine) or theirs[i] != mine[i])
    return Reproduction(published=f"{ref.registry}/{ref.repository}@{digest}",
                        config=str((manifest.get("config") or {}).get("digest", "")), rebuilt=image.id,
                        differing=differing)


def check(result: Reproduction) -> str:
    """The line that says the outcome; a rebuild that differs is a failed check (exit 6)."""
    if result.same:
        return f"reproduced {result.published}: the rebuild from this checkout is the same image ({result.rebuilt})"
    layers = ", ".join(map(str, result.differing[:8])) or "none (the config differs)"
    raise PublishError(f"{result.published} differs from its rebuild {result.rebuilt} (layers {layers}): the tag "
                       "is not what this checkout builds; `docker history` of both shows the steps")


def _variant(matrix: Matrix, labels: dict, ref: ImageRef) -> Variant:
    wanted = labels.get(VARIANT_LABEL)
    found = [v.on(name) for v in matrix.expand() for name in v.platforms if v.on(name).id == wanted]
    if not wanted or not found:
        raise ConfigError(f"{ref} names variant {wanted!r}, which this checkout's matrix has not: check out the "
                          "revision it was built from")
    return found[0]


def _platform_image(client: RegistryClient, ref: ImageRef, arch: str) -> tuple[str, dict]:
    """The digest and manifest of `ref`'s image for `arch`: `ref`'s own, or its `arch` entry where `ref` names an
    index (each manifest read once)."""
    raw = client.manifest_bytes(ref.repository, ref.reference)
    found = json.loads(raw[0]) if raw else {}
    digest = digest_of(raw[0]) if raw else ""
    if "manifests" in found:
        entries = [e["digest"] for e in found["manifests"]
                   if (e.get("platform") or {}).get("architecture") == arch and "digest" in e]
        digest = entries[0] if entries else ""
        found = client.manifest(ref.repository, digest) if digest else {}
    if not found:
        raise RegistryError(f"{ref} has no {arch} image in its registry: check the tag, or push it")
    return digest, found
