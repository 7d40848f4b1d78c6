"""Two nights of `imgbuild release` of the offline test variant against a real registry, as the nightly runs it:
the second night builds nothing and uploads no blob; a changed lock rebuilds; a tampered hash stops the build."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TEST_VARIANT
from helpers import ROOT, imgbuild
from registry_server import registry_fixture, skopeo_digest

registry = pytest.fixture(scope="module")(registry_fixture)
NIGHT = 1795049820  # 2026-11-19 02:17 UTC
DAY = 86400
LOCK = "2.14.1-cu130-py3.11-runtime.txt"
RELEASE_TAG = "2.14.1-cuda13.0-cudnn9-runtime-amd64"  # its platform's tags: the build has an arm64 image too


@pytest.fixture(scope="module")
def site(base_image, wheelhouse, ca_cert):
    return ["--base-image", base_image, "--ca-cert", str(ca_cert), "--wheelhouse", str(wheelhouse)]


def release(registry, site, out, epoch, **env):
    result = imgbuild("release", *TEST_VARIANT, "--flavor", "runtime", "--registry", f"{registry.host}/nightly",
                      "--gpu", "no", "--out", str(out), *site, env={"SOURCE_DATE_EPOCH": str(epoch), **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    [entry] = json.loads((out / "release.json").read_text())["images"]
    return entry


def blob_bytes(server) -> int:
    return sum(p.stat().st_size for p in (server.dir / "storage").rglob("blobs/**/data"))


def test_an_unchanged_night_retags_and_a_changed_lock_rebuilds(runtime_image, registry, site, tmp_path):
    first = release(registry, site, tmp_path / "night1", NIGHT)
    assert first["status"] == "ok" and not first.get("unchanged_since") and first["inputs_digest"]
    stored = blob_bytes(registry)

    second = release(registry, site, tmp_path / "night2", NIGHT + DAY)
    assert second["unchanged_since"] == "2026-11-19" and second["digest"] == first["digest"]
    assert second["dated_tag"] == f"{RELEASE_TAG}-2026-11-20"
    assert skopeo_digest(registry, "nightly/pytorch", second["dated_tag"]) == first["digest"]
    assert blob_bytes(registry) == stored  # no layer, no config: a manifest written under new tags
    assert "Unchanged since 2026-11-19" in (tmp_path / "night2" / "TAGS.md").read_text()

    # The same pins with a reviewed lock file (one more comment line): new inputs, a new image; the big
    # install layer comes from the cache, so only the small layers above it are uploaded.
    locks = tmp_path / "locks"
    shutil.copytree(ROOT / "locks", locks)
    (locks / LOCK).write_text((locks / LOCK).read_text() + "# reviewed for the nightly test\n")
    third = release(registry, site, tmp_path / "night3", NIGHT + 2 * DAY, IMGBUILD_LOCKS=str(locks))
    assert third["digest"] != first["digest"] and third["rebuilt_because"] == "inputs changed"
    assert third["inputs_digest"] != first["inputs_digest"] and third["push"]["bytes_pushed"] < 50e6
    assert skopeo_digest(registry, "nightly/pytorch", RELEASE_TAG) == third["digest"]
    assert skopeo_digest(registry, "nightly/pytorch", second["dated_tag"]) == first["digest"]  # immutable


def test_a_tampered_hash_fails_the_build_with_one_line(runtime_image, site, tmp_path):
    locks = tmp_path / "locks"
    shutil.copytree(ROOT / "locks", locks)
    text = (locks / LOCK).read_text()
    start = text.index("--hash=sha256:", text.index("\nanyio==")) + len("--hash=sha256:")
    (locks / LOCK).write_text(text[:start] + "0" * 64 + text[start + 64:])
    result = imgbuild("build", *TEST_VARIANT, "--flavor", "runtime", *site, env={"IMGBUILD_LOCKS": str(locks)})
    assert result.returncode == 4, result.stderr[-2000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("imgbuild: error:")]
    assert line.startswith("imgbuild: error: anyio==4.16.0 does not match its hash in "), result.stderr[-2000:]
    assert "imgbuild lock --variant 2.14.1-cu130-py3.11-runtime" in line and "Traceback" not in result.stderr
    # Built again from the true lock, which differs from the tampered one in a hash only (the same size): the build
    # must read the lock anew, not BuildKit's copy of the last context (it compares sizes and times).
    again = imgbuild("build", *TEST_VARIANT, "--flavor", "runtime", *site)
    assert again.returncode == 0, again.stderr[-2000:]
