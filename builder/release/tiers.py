"""The GPU tier after the push: a GPU runner tests the pushed digest (no rebuild), marks it in the registry
beside the digest, and the catalog reads that runner's report back into release.json and TAGS.md."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.errors import ConfigError
from ..core.reference import ImageRef
from ..publish.tested import mark_tested
from ..registry.client import RegistryClient
from ..registry.credentials import credentials_for
from ..smoke.report import SmokeReport
from .fields import FIX, BadField, Fields, load_json
from .manifest import ReleaseEntry, SmokeSummary

GPU_REPORT = "gpu-tier.json"  # what the GPU job writes (`imgbuild test --json`) and the catalog reads


def mark_gpu_tested(ref: ImageRef, report: SmokeReport) -> str:
    """The registry's `sha256-<hex>.gpu-tested` tag on the digest's own manifest, once its GPU tier passed."""
    if ref.registry is None or ref.digest is None:
        raise ConfigError(f"--mark-tested marks a pushed digest: test HOST/NAMESPACE/IMAGE@sha256:..., not {ref}")
    if not (report.passed and report.gpu_tier):
        raise ConfigError(f"{ref} did not pass the GPU tier here (no GPU, or a failed case): nothing marked")
    client = RegistryClient(ref.registry, credentials_for(ref.registry))
    tag = mark_tested(client, ref.repository, ref.digest, tier="gpu")
    if tag is None:
        raise ConfigError(f"{ref} is not in {ref.registry}: test the digest the release pushed")
    return f"{ref.registry}/{ref.repository}:{tag}"


def with_gpu_reports(entries: list[ReleaseEntry], in_dir: Path) -> list[ReleaseEntry]:
    """Each entry whose digest a passing GPU-tier report under `in_dir` names gets that report as its smoke
    summary (the build job's CPU tier is kept where no GPU runner tested it)."""
    passed: dict[str, SmokeSummary] = {}
    for path in sorted(Path(in_dir).rglob(GPU_REPORT)):
        data = load_json(path, "a GPU-tier report")  # a FIFO, a device or a deep nesting: one line, no hang
        try:  # checked as release.json's smoke record is: "passed": "no" must never read as a pass
            fields = Fields(data)
            digest = ImageRef.parse(fields.text("image", True)).digest
            summary = SmokeSummary.read(fields)
        except BadField as exc:
            raise ConfigError(f"{path} is not a GPU-tier report ({exc}): {FIX}") from None
        summary = replace(summary, seconds=round(summary.seconds, 1))
        if digest and summary.passed and summary.gpu_tier:
            passed[digest] = summary
    return [replace(e, smoke=passed[e.digest]) if e.digest in passed else e for e in entries]
