"""The registry-side record that a digest passed its smoke test: its manifest also written under the tag
`sha256-<hex>.tested` (as cosign names its signatures), so any later run, on any runner, reads it back. The tag names
the same manifest, so the digest and its dated tag do not change."""

from __future__ import annotations

from ..registry.client import RegistryClient

TESTED_SUFFIX = ".tested"  # the smoke suite passed (its CPU tier at least) on this digest
GPU_TESTED_SUFFIX = ".gpu-tested"  # its GPU tier passed too, on a GPU runner, after the push


def tested_tag(digest: str, tier: str = "cpu") -> str:
    return digest.replace(":", "-") + (GPU_TESTED_SUFFIX if tier == "gpu" else TESTED_SUFFIX)


def is_tested(client: RegistryClient, repository: str, digest: str, tier: str = "cpu") -> bool:
    return client.manifest_digest(repository, tested_tag(digest, tier)) == digest


def mark_tested(client: RegistryClient, repository: str, digest: str, tier: str = "cpu") -> str | None:
    """Record that this digest passed (`tier` "gpu": its GPU tier too); the marker's tag, None when the digest is
    not there."""
    found = client.manifest_bytes(repository, digest)
    if found is None:
        return None
    client.put_manifest(repository, tested_tag(digest, tier), found[0], found[1].split(";")[0])
    return tested_tag(digest, tier)
