"""The registry-side record that a digest passed its smoke test: its manifest also written under the tag
`sha256-<hex>.tested` (as cosign names its signatures), so any later run, on any runner, reads it back. The tag names
the same manifest, so the digest and its dated tag do not change.

The GPU tier comes after the push: a GPU runner tests the pushed digest (no rebuild) and marks it here too
(`mark_gpu_tested`); release/releasefile.py reads that runner's report back into release.json and TAGS.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.choices import GpuMode
from ..core.errors import ConfigError
from ..core.reference import ImageRef
from ..engine.daemon import Engine
from ..registry.client import RegistryClient
from ..registry.target import RegistryTarget
from ..smoke.report import SmokeReport
from ..smoke.run import test_images

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


def mark_gpu_tested(ref: ImageRef, report: SmokeReport) -> str:
    """The registry's `sha256-<hex>.gpu-tested` tag on the digest's own manifest, once its GPU tier passed."""
    if ref.registry is None or ref.digest is None:
        raise ConfigError(f"--mark-tested marks a pushed digest: test HOST/NAMESPACE/IMAGE@sha256:..., not {ref}")
    if not (report.passed and report.gpu_tier):
        raise ConfigError(f"{ref} did not pass the GPU tier here (no GPU, or a failed case): nothing marked")
    tag = mark_tested(RegistryTarget.holding(ref).client, ref.repository, ref.digest, tier="gpu")
    if tag is None:
        raise ConfigError(f"{ref} is not in {ref.registry}: test the digest the release pushed")
    return f"{ref.registry}/{ref.repository}:{tag}"


def test_images_and_mark(engine: Engine, refs: Sequence[ImageRef], gpu_mode: GpuMode, work_dir: Path, *,
                         junit: Path | None = None, json_out: Path | None = None, mark: bool = False,
                         each: Callable[[SmokeReport], None] = lambda report: None) -> tuple[list[SmokeReport], str | None]:
    """`imgbuild test`: each image's suite and reports (smoke/run.py: test_images); with `mark`, the one pushed
    digest given marked GPU-tested once it passed. The reports, and the marker's reference (None: not marked)."""
    reports = test_images(engine, refs, gpu_mode, work_dir, junit=junit, json_out=json_out, each=each)
    passed = all(report.passed for report in reports)
    return reports, mark_gpu_tested(refs[0], reports[0]) if mark and passed else None
