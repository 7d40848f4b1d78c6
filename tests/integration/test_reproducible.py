"""Reproducible images: the same variant, lock, base digest and SOURCE_DATE_EPOCH give the same image digest on two
engines that share no cache (the host's, whose cache holds the session's build, and an empty second one); and
`imgbuild reproduce` checks a published tag against this checkout."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import RUNTIME_REF, TEST_VARIANT
from dockerd import second_dockerd
from helpers import docker, imgbuild
from registry_server import registry_fixture

pytestmark = pytest.mark.integration
registry = pytest.fixture(scope="module")(registry_fixture)

EPOCH = "1796601600"  # 2026-12-07


def build(host: str | None, base_image: str, wheelhouse, ca_cert) -> tuple[str, tuple[str, ...]]:
    env = {"SOURCE_DATE_EPOCH": EPOCH, **({"DOCKER_HOST": host} if host else {})}
    result = imgbuild("build", *TEST_VARIANT, "--flavor", "runtime", "--base-image", base_image, "--ca-cert",
                      str(ca_cert), "--wheelhouse", str(wheelhouse), "--network", "host", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    info = inspect(host, RUNTIME_REF)
    return info["Id"], tuple(info["RootFS"]["Layers"])


def inspect(host: str | None, ref: str) -> dict:
    return json.loads(docker(*(["-H", host] if host else []), "image", "inspect", ref, check=True).stdout)[0]


@pytest.fixture(scope="module")
def fixed_time_image(runtime_image, base_image, wheelhouse, ca_cert):
    """The test variant built at EPOCH on the host's engine (its layers come from the session build's cache)."""
    return build(None, base_image, wheelhouse, ca_cert)


def test_two_engines_that_share_no_cache_build_the_same_digest(fixed_time_image, base_image, wheelhouse, ca_cert,
                                                               tmp_path_factory):
    if not shutil.which("dockerd"):
        pytest.fail("no dockerd on PATH: run scripts/setup-docker.sh")
    root = tmp_path_factory.mktemp("empty-engine")
    try:
        with second_dockerd(root, containerd_store=True) as host:
            saved = root / "base.tar"
            docker("save", "-o", str(saved), base_image, check=True, timeout=600)
            loaded = docker("-H", host, "load", "-i", str(saved), timeout=600)
            assert loaded.returncode == 0, loaded.stderr
            assert inspect(None, base_image)["Id"] == inspect(host, base_image)["Id"]  # one base, one digest
            second = build(host, base_image, wheelhouse, ca_cert)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first = fixed_time_image
    differing = [i for i, (a, b) in enumerate(zip(first[1], second[1], strict=False)) if a != b]
    assert first == second, f"layers that differ: {differing}"
    assert first[0].startswith("sha256:") and len(first[1]) > 25


def test_reproduce_checks_a_published_tag_against_this_checkout(fixed_time_image, registry, wheelhouse, ca_cert,
                                                                 tmp_path):
    """The rebuild takes the same site options (the provenance in the image names the CA certificates and the
    wheelhouse's torch wheel); every layer comes from the host's cache, so it takes seconds."""
    site = ("--ca-cert", str(ca_cert), "--wheelhouse", str(wheelhouse))
    pushed = imgbuild("push", RUNTIME_REF, "--registry", f"{registry.host}/repro", "--allow-untested")
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    published = re.search(rf"({re.escape(registry.host)}/repro/pytorch:\S+)@(sha256:\w+)", pushed.stdout)
    assert published, pushed.stdout
    done = imgbuild("reproduce", published[1], *site)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"reproduced {registry.host}/repro/pytorch@{published[2]}" in done.stdout

    # the same labels over one more layer: what a tag that was altered after its build looks like
    (tmp_path / "Dockerfile").write_text(f"FROM {RUNTIME_REF}\nUSER root\nRUN echo altered > /etc/motd\n")
    docker("buildx", "build", "--network", "host", "--provenance=false", "-t", f"{registry.host}/repro/altered:1",
           str(tmp_path), check=True, timeout=600)
    docker("push", f"{registry.host}/repro/altered:1", check=True, timeout=600)
    altered = imgbuild("reproduce", f"{registry.host}/repro/altered:1", *site)
    assert altered.returncode == 6, altered.stderr[-2000:]
    [line] = [line for line in altered.stderr.splitlines() if line.startswith("imgbuild: error:")]
    assert "differs from its rebuild" in line and "is not what this checkout builds" in line
