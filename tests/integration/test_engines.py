"""The engine: the images build through BuildKit on Docker 25 and newer; an older Docker (Debian 12's 20.10, a real
one, run beside the host's engine) is refused in one line that names the upgrade, before anything is built or
resolved, and `imgbuild doctor` says so. Rootless Podman's path has its own test (test_podman.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_VARIANT
from dockerd import second_dockerd
from helpers import imgbuild, missing
from imgbuild.engine.daemon import Engine

OLD_DOCKER = Path(os.environ.get("IMGBUILD_CI_CACHE", "/var/cache/imgbuild-ci")) / "docker-20.10"


@pytest.fixture(scope="module")
def old_engine(tmp_path_factory):
    """Debian 12's own docker.io (20.10), unpacked beside the modern engine (which it leaves alone)."""
    dockerd = OLD_DOCKER / "usr/sbin/dockerd"
    if not dockerd.is_file():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            missing("Debian 12's docker.io is unpacked by root with apt-get")
        debs = tmp_path_factory.mktemp("debs")
        done = subprocess.run(["apt-get", "download", "-o", "APT::Sandbox::User=root", "docker.io/bookworm"],
                              cwd=debs, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
            done = subprocess.run(["apt-get", "download", "-o", "APT::Sandbox::User=root", "docker.io/bookworm"],
                                  cwd=debs, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        for deb in debs.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(OLD_DOCKER)], check=True)
    version = subprocess.run([str(dockerd), "--version"], capture_output=True, text=True).stdout
    assert "20.10" in version, version
    with second_dockerd(tmp_path_factory.mktemp("old-engine"), str(dockerd)) as host:
        yield host


def test_an_engine_older_than_25_is_refused_in_one_line_before_any_work(old_engine):
    result = imgbuild("build", *TEST_VARIANT, "--base-image", "local/debian:bookworm",
                      env={"DOCKER_HOST": old_engine})
    assert result.returncode == 3, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Docker 20.10" in lines[0] and "older than 25" in lines[0] and "scripts/setup-docker.sh" in lines[0]
    assert "resolved" not in result.stderr and "building" not in result.stderr


def test_doctor_names_the_old_engine_and_what_it_lacks(old_engine):
    result = imgbuild("doctor", env={"DOCKER_HOST": old_engine, "COLUMNS": "400"})
    row = next(line for line in result.stdout.splitlines() if "image builder" in line)
    assert "Docker 20.10" in row and "older than 25" in row and "upgrade the engine" in row
    assert result.returncode != 0


def test_doctor_names_the_engine_and_builder_of_this_host(engine):
    result = imgbuild("doctor", env={"COLUMNS": "400"})
    row = next(line for line in result.stdout.splitlines() if "image builder" in line)
    assert "BuildKit through buildx" in row and "containerd image store" in row, row


def test_the_build_says_its_engine_and_builder_first(runtime_image, base_image, wheelhouse, ca_cert):
    result = imgbuild("build", *TEST_VARIANT, "--base-image", base_image, "--ca-cert", str(ca_cert),
                      "--wheelhouse", str(wheelhouse), "--network", "host")
    assert result.returncode == 0, result.stderr[-3000:]
    first = result.stderr.splitlines()[0]
    assert first.startswith("engine: Docker ") and "BuildKit through buildx" in first, first


def test_buildkit_builds_into_the_classic_image_store_too(tmp_path_factory):
    """GitHub's runners run Docker 28 with the overlay2 store (the containerd image store is off there): the same
    build path gives an image the engine knows, labels and all."""
    context = tmp_path_factory.mktemp("tiny")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    (context / "payload").write_bytes(os.urandom(4096))
    with second_dockerd(tmp_path_factory.mktemp("overlay2-engine")) as host:
        engine = Engine(base_url=host)
        assert "the overlay2 image store (no containerd image store)" in engine.describe_builder()
        with (context / "build.log").open("w") as log:
            image_id = engine.build(context, buildargs={}, labels={"io.imgbuild.test": "1"}, network="host",
                                    nocache=True, log=log, on_step=lambda *_: None)
        info = engine.image(image_id)
        assert info is not None and info.labels["io.imgbuild.test"] == "1"
        assert "exporting layers" in (context / "build.log").read_text()
