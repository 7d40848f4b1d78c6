"""The release manifest and the tag catalog (no daemon, no registry: plain values in, files out)."""

import datetime as dt
import json
from pathlib import Path

import pytest
from imgbuild.build.image import Image
from imgbuild.core import tags
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.matrix.select import Selection, select
from imgbuild.publish.push import PushResult
from imgbuild.release.manifest import ReleaseEntry, release_entry, write_release
from imgbuild.release.releasefile import merge_releases
from imgbuild.smoke.report import SmokeCase, SmokeReport

REGISTRY = RegistryRef("ghcr.io", "team")
DIGEST = "sha256:" + "ab" * 32


def image_of(matrix, **kw) -> Image:
    [v] = select(matrix, Selection(**kw))
    refs = tuple(ImageRef(tags.local_repository(v), t) for t in tags.tags(v, dt.date(2026, 11, 22)))
    return Image(id="sha256:" + "cd" * 32, ref=refs[1], refs=refs, size=6_400_000_000, variant=v, seconds=241.0,
                 log=Path("build.log"))


def entry(image: Image, smoke, push) -> ReleaseEntry:
    return release_entry(image.variant, REGISTRY, image=image, report=smoke, push=push)


def report(outcome: str = "passed") -> SmokeReport:
    return SmokeReport(image="x", image_id="sha256:" + "cd" * 32, variant="v", gpu_tier=True,
                       cases=(SmokeCase("a", "passed", 1.0), SmokeCase("b", outcome, 2.0)),
                       figures={"deit_tiny_img_s": 8230})


def pushed(image: Image) -> PushResult:
    refs = tuple(REGISTRY.image_ref("pytorch", tag) for tag in image.tags)
    return PushResult(variant=image.variant.id, refs=refs, digest=DIGEST, layers_pushed=3, layers_existing=9,
                      bytes_pushed=123, seconds=9.5, labels=tags.variant_labels(image.variant))


def test_entry_maps_every_tag_to_the_digest(matrix):
    image = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    made = entry(image, report(), pushed(image))
    assert made.status == "ok" and made.error is None and made.digest == DIGEST
    assert made.tags[0] == made.dated_tag == "2.6.0-cuda12.4-cudnn9-runtime-2026-11-22"
    assert made.repository == "ghcr.io/team/pytorch"
    assert made.smoke.counts == {"passed": 2, "failed": 0, "skipped": 0}
    assert made.labels["io.imgbuild.torch"] == "2.6.0"
    assert ReleaseEntry.from_json(json.loads(json.dumps(made.to_json()))) == made  # release.json round trip


def test_the_zstd_twin_is_recorded_and_listed_beside_the_digest(matrix, tmp_path):
    from dataclasses import replace

    from imgbuild.publish.zstd import Twin

    image = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    twin = Twin(tags=tuple(tags.zstd_tag(t) for t in image.tags), digest="sha256:" + "ef" * 32, layers_converted=3,
                seconds=4.0)
    made = entry(image, report(), replace(pushed(image), zstd=twin))
    assert made.zstd_digest == twin.digest
    assert ReleaseEntry.from_json(json.loads(json.dumps(made.to_json()))) == made
    _, catalog = write_release([made], tmp_path)
    assert f"`docker pull ghcr.io/team/pytorch@{twin.digest}`" in catalog.read_text()
    _, catalog = write_release([entry(image, report(), pushed(image))], tmp_path / "gzip-only")
    assert "@sha256:efef" not in catalog.read_text()


def test_failed_smoke_or_missing_push_is_a_failed_entry(matrix):
    image = image_of(matrix, torch="2.6", cuda="cpu")
    assert entry(image, report("failed"), None).error == "smoke test failed (1 cases)"
    assert entry(image, report(), None).status == "failed"


def test_a_failed_build_is_an_entry_with_its_error(matrix):
    [v] = select(matrix, Selection(torch="2.6", cuda="cpu"))
    made = release_entry(v, REGISTRY, error="build failed at Step 4/31: boom")
    assert (made.status, made.tags, made.digest, made.repository) == ("failed", (), None, "ghcr.io/team/pytorch")
    assert made.error == "build failed at Step 4/31: boom"


def test_write_then_merge_keeps_the_newest_record(matrix, tmp_path):
    cuda = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    cpu = image_of(matrix, torch="2.6", cuda="cpu")
    write_release([entry(cuda, report(), pushed(cuda))], tmp_path / "job1")
    entries = [entry(cpu, report(), pushed(cpu)), entry(cuda, report("failed"), None)]
    manifest, catalog = write_release(entries, tmp_path / "job2")
    assert json.loads(manifest.read_text())["generated"]
    text = catalog.read_text()
    assert "docker pull ghcr.io/team/pytorch:2.6.0-cpu-2026-11-22" in text
    assert f"docker pull ghcr.io/team/pytorch@{DIGEST}" in text and "Pin the **dated tag**" in text
    assert "## Failed" in text
    merged = merge_releases(tmp_path)
    assert [e.variant for e in merged] == sorted({cuda.variant.id, cpu.variant.id})
    assert all(e.status == ("ok" if "cpu" in e.variant else "failed") for e in merged)


def test_a_broken_manifest_is_named(tmp_path):
    (tmp_path / "release.json").write_text("{not json")
    with pytest.raises(ConfigError, match="release.json is not a release manifest"):
        merge_releases(tmp_path)
    assert merge_releases(tmp_path / "empty") == []

