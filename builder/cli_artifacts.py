"""`imgbuild sbom REF` (an image's SBOM or provenance, read back from its registry) and `imgbuild digests`
(every published digest of a release, for signing and scanning)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from .errors import ConfigError, PublishError
from .progress import Reporter

_HOST = re.compile(r"^(localhost|[\w-]+(\.[\w-]+)+|[\w.-]+:\d{1,5}|\[[0-9a-fA-F:]+\](:\d{1,5})?)$")


def parse_image_ref(ref: str) -> tuple[str, str, str]:
    """HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] -> (host, repository, tag or digest); the tag defaults to latest."""
    name, _, digest = ref.strip().partition("@")
    host, _, repository = name.partition("/")
    tag = "latest"
    if ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    if not _HOST.match(host) or not repository or (digest and not digest.startswith("sha256:")):
        raise ConfigError(f"bad image reference {ref!r}: give HOST/NAMESPACE/IMAGE:TAG or HOST/NAMESPACE/IMAGE@sha256:..."
                          " (e.g. ghcr.io/org/pytorch:2.6.0-cpu)")
    return host, repository, digest or tag


def sbom_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="a pushed image: HOST/NAMESPACE/IMAGE:TAG or ...@sha256:DIGEST")],
    show_provenance: Annotated[bool, typer.Option("--provenance", help="print the provenance statement instead")]
    = False,
) -> None:
    """Print the SBOM (CycloneDX JSON) that the registry holds beside a pushed image."""
    from . import provenance, sbom
    from .referrers import fetch_artifact, referrers
    from .registry import RegistryClient, RegistryError, credentials_for

    host, repository, reference = parse_image_ref(ref)
    client = RegistryClient(host, credentials_for(host))
    digest = reference if reference.startswith("sha256:") else client.manifest_digest(repository, reference)
    if digest is None:
        raise RegistryError(f"{host}/{repository}:{reference} does not exist: check the tag, or push it")
    kind, what = (provenance.MEDIA_TYPE, "provenance") if show_provenance else (sbom.MEDIA_TYPE, "SBOM")
    found = referrers(client, repository, digest, kind)
    if not found:
        raise PublishError(f"no {what} refers to {host}/{repository}@{digest}: publish the image with "
                           "`imgbuild push` or `imgbuild release` (images imgbuild builds carry one)")
    ctx.ensure_object(Reporter).data(fetch_artifact(client, repository, found[-1].digest).decode().rstrip("\n"))


def digests_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json files (searched recursively)")],
    images_only: Annotated[bool, typer.Option("--images-only", help="leave out the SBOM and provenance")] = False,
) -> None:
    """Print REPOSITORY@DIGEST for every published image of the releases and, unless --images-only, the SBOM and
    provenance artifacts that refer to it: what the nightly signs, verifies and scans. Nothing published: no line."""
    from .release import merge_releases

    lines = []
    for entry in merge_releases(in_dir):
        if not entry.published:
            continue
        lines.append(f"{entry.repository}@{entry.digest}")
        if not images_only:
            lines += [f"{entry.repository}@{digest}" for _, digest in sorted(entry.artifacts.items())]
    out = ctx.ensure_object(Reporter)
    if not lines:  # every build failed: nothing to sign or scan, and the catalog says why
        out.info(f"no published image in the release files under {in_dir}")
    for line in lines:
        out.result(line)
