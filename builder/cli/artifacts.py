"""`imgbuild sbom REF` (an image's SBOM or provenance, read back from its registry), `imgbuild digests`
(every published digest of a release, for signing and scanning) and `imgbuild reproduce REF` (a published image
rebuilt from this checkout, digests compared)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import PublishError, RegistryError
from ..core.reference import ImageRef
from .options import BuildFlags, MatrixOpt, cli_options, matrix_named, output


def sbom_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="a pushed image: HOST/NAMESPACE/IMAGE:TAG or ...@sha256:DIGEST")],
    show_provenance: Annotated[bool, typer.Option("--provenance", help="print the provenance statement instead")]
    = False,
) -> None:
    """Print the SBOM (CycloneDX JSON) that the registry holds beside a pushed image."""
    from ..build import provenance, sbom
    from ..registry.client import RegistryClient
    from ..registry.referrers import fetch_artifact, referrers

    image = ImageRef.parse_remote(ref)
    host, repository = image.registry or "", image.repository
    client = RegistryClient.open(host)
    digest = image.digest or client.manifest_digest(repository, image.reference)
    if digest is None:
        raise RegistryError(f"{host}/{repository}:{image.reference} does not exist: check the tag, or push it")
    kind, what = (provenance.MEDIA_TYPE, "provenance") if show_provenance else (sbom.MEDIA_TYPE, "SBOM")
    found = referrers(client, repository, digest, kind)
    if not found:
        raise PublishError(f"no {what} refers to {host}/{repository}@{digest}: publish the image with "
                           "`imgbuild push` or `imgbuild release` (images imgbuild builds carry one)")
    output(ctx).data(fetch_artifact(client, repository, found[-1].digest).decode().rstrip("\n"))


def digests_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json files (searched recursively)")],
    images_only: Annotated[bool, typer.Option("--images-only", help="leave out the SBOM and provenance")] = False,
) -> None:
    """Print REPOSITORY@DIGEST for every published image of the releases and, unless --images-only, the SBOM and
    provenance artifacts that refer to it, then each multi-platform index: what the nightly signs, verifies and
    scans. Nothing published: no line."""
    from ..release.releasefile import read_releases

    # Every repository and digest printed here was checked on read (releasefile.py): a line cannot be forged.
    images, indexes = read_releases(in_dir)
    lines = []
    for entry in images:
        if not entry.published:
            continue
        lines.append(f"{entry.repository}@{entry.digest}")
        if entry.zstd_digest:  # the same image under TAG-zstd: a team on a modern engine pins and verifies it
            lines.append(f"{entry.repository}@{entry.zstd_digest}")
        if not images_only:
            lines += [f"{entry.repository}@{digest}" for _, digest in sorted(entry.artifacts.items())]
    if not images_only:  # the index a team pulls by its plain tag is signed too
        lines += [f"{i.repository}@{i.digest}" for i in indexes if i.status == "ok" and i.digest]
    out = output(ctx)
    if not lines:  # every build failed: nothing to sign or scan, and the catalog says why
        out.info(f"no published image in the release files under {in_dir}")
    for line in lines:
        out.result(line)


@cli_options
def reproduce_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="a published image: HOST/NAMESPACE/IMAGE:TAG or ...@sha256:DIGEST")], *,
    matrix: MatrixOpt = None,
    site: BuildFlags,
) -> None:
    """Rebuild a published image from this checkout, as of its own build time, and compare the digests: the same
    digest proves the tag is what this repository's Dockerfile and lock make from that base."""
    from ..engine.daemon import Engine
    from ..release.reproduce import reproduce

    image = ImageRef.parse_remote(ref)
    result = reproduce(image, matrix_named(matrix), Engine(), site.options(), output(ctx))
    output(ctx).result(result.check())
