"""The GPU tier after the push: a GPU runner tests the pushed digest (no rebuild), marks it in the registry
beside the digest, and the catalog reads that runner's report back into release.json and TAGS.md."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..core.errors import ConfigError
from ..core.reference import ImageRef
from ..publish.tested import mark_tested
from ..registry.client import RegistryClient
from ..registry.credentials import credentials_for
from ..smoke.report import SmokeReport
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
        try:
            data = json.loads(path.read_text())
            digest = ImageRef.parse(str(data["image"])).digest
            summary = SmokeSummary(passed=bool(data["passed"]), counts=dict(data["counts"]),
                                   figures=dict(data.get("figures") or {}), gpu_tier=bool(data["gpu_tier"]),
                                   seconds=round(float(data.get("seconds") or 0), 1))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not a GPU-tier report ({exc}): remove it or re-run its job") from None
        if digest and summary.passed and summary.gpu_tier:
            passed[digest] = summary
    return [replace(e, smoke=passed[e.digest]) if e.digest in passed else e for e in entries]
