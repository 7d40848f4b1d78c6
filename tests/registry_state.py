"""What a registry holds after a fault, read back through the Registry API alone (tests/integration/test_faults.py).

`registry_state` walks every tag of a repository: each manifest's config and layers are there (an index's images
too, each referrer's own), and every tag that names an image has its zstd twin, SBOM, provenance and tested marker,
unless the error line of the push says which of them it lacks ("... published at DIGEST, without its SBOM,
provenance and tested marker (...)"). An error line that names none says nothing was published: then no tag may
name an image."""

from __future__ import annotations

import re

from imgbuild.build import provenance, sbom
from imgbuild.core import tags
from imgbuild.publish.tested import TESTED_SUFFIX, is_tested
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.referrers import referrers

ARTIFACTS = ("zstd twin", "SBOM", "provenance", "tested marker")


def registry_state(client: RegistryClient, repository: str, error: str | None = None) -> dict[str, str]:
    """Every tag of `repository` and the digest it names, each checked through the Registry API: every manifest's
    blobs and config are there (an index's images too, a referrer's own), and every tag that names an image has its
    zstd twin, SBOM, provenance and tested marker, unless `error` (the case's line) names them as missing."""
    named = {tag: client.manifest_digest(repository, tag) for tag in client.tags(repository)}
    for tag, digest in named.items():
        assert digest, f"{repository}:{tag} is listed but has no manifest"
        _complete(client, repository, digest, f"{repository}:{tag}")
    images = {t: d for t, d in named.items() if not t.startswith("sha256-") and not t.endswith(tags.ZSTD_SUFFIX)}
    missing = _said_missing(error)
    if error and not missing:
        assert not images, f"tags {sorted(images)} are there, but the line says nothing was published: {error}"
    for tag, digest in images.items():
        lacks = missing.get(digest, set())
        kinds = {d.artifact_type for d in referrers(client, repository, digest)}
        for descriptor in referrers(client, repository, digest):
            _complete(client, repository, descriptor.digest, f"a referrer of {repository}:{tag}")
        expected = {"SBOM": sbom.MEDIA_TYPE in kinds, "provenance": provenance.MEDIA_TYPE in kinds,
                    "tested marker": is_tested(client, repository, digest),
                    "zstd twin": tags.zstd_tag(tag) in named}
        absent = {name for name, there in expected.items() if not there}
        assert absent <= lacks, f"{repository}:{tag} lacks {sorted(absent - lacks)} and the line did not say: {error}"
    for tag, digest in named.items():
        if tag.endswith(tags.ZSTD_SUFFIX):  # the same image: the same config as its plain tag's
            plain = tag.removesuffix(tags.ZSTD_SUFFIX)
            assert plain in images and client.config_of(repository, client.manifest(repository, digest)) == \
                client.config_of(repository, client.manifest(repository, images[plain])), tag
        elif tag.endswith(TESTED_SUFFIX):
            assert digest in images.values(), f"{tag} marks {digest}, which no tag names"
    return named


def _complete(client: RegistryClient, repository: str, digest: str, what: str) -> None:
    manifest = client.manifest(repository, digest)
    for child in manifest.get("manifests") or []:
        _complete(client, repository, child["digest"], what)
    for blob in [manifest.get("config") or {}, *(manifest.get("layers") or [])]:
        if blob.get("digest"):
            found = client.request("HEAD", f"/v2/{repository}/blobs/{blob['digest']}", repository).status_code
            assert found == 200, f"{what} names blob {blob['digest']}, which the registry answers {found} for"


def _said_missing(error: str | None) -> dict[str, set[str]]:
    """{digest: what the line says is missing beside it}, from "... published at DIGEST, without its X, Y and Z"."""
    found = re.search(r"published at (sha256:[0-9a-f]{64}), without its ([^(]+) \(", error or "")
    if not found:
        return {}
    return {found[1]: {name for name in ARTIFACTS if name in found[2]}}
