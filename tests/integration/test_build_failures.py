"""Build failures end in one clear line, and leave no tag behind."""

from __future__ import annotations

import json

import pytest
from helpers import docker, imgbuild, stand_in_locks
from registry_server import auth_registry_fixture

BROKEN_APT = "imgbuild-test/broken-apt:1"
# A base whose apt cannot fetch (a base without apt at all is refused before the build: test_bases.py)
BREAK_APT = "RUN echo 'deb file:/nonexistent bookworm main' > /etc/apt/sources.list && rm -f /etc/apt/sources.list.d/*"

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


def one_line(result):
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("imgbuild: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


def test_a_failed_step_names_the_step_and_the_log_and_tags_nothing(engine, base_image, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\n{BREAK_APT}\n")
    docker("build", "--provenance=false", "--network", "host", "-t", BROKEN_APT, str(tmp_path), check=True)
    try:
        result = imgbuild("build", "--torch", "2.6", "--cuda", "cpu", "--base-image", BROKEN_APT,
                          env=stand_in_locks(tmp_path / "locks", "2.6.0-cpu-py3.12-runtime"))
        assert result.returncode == 4
        line = one_line(result)
        assert "build failed at step 2/" in line and "file:/nonexistent" in line and ".build.log" in line
        assert engine.image("imgbuild/pytorch:2.6.0-cpu") is None
        assert not [t for t in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
                    if t.startswith("imgbuild/pytorch:2.6.0-cpu")]
    finally:
        docker("rmi", "-f", BROKEN_APT)
        engine.prune_dangling()


def test_no_daemon_says_how_to_start_one():
    result = imgbuild("build", "--torch", "2.6", "--cuda", "cpu", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 3
    assert "cannot reach the Docker daemon" in one_line(result) and "dockerd" in one_line(result)


def test_index_pypi_is_refused_for_a_cuda_build_pypi_does_not_carry():
    result = imgbuild("build", "--torch", "2.6", "--cuda", "11.8", "--index", "pypi")
    assert result.returncode == 2
    assert "PyPI's torch 2.6.0 is not the cu118 build" in one_line(result)


def test_a_bad_ca_cert_is_refused(tmp_path):
    bad = tmp_path / "not-a-cert.crt"
    bad.write_text("hello")
    result = imgbuild("build", "--torch", "2.6", "--cuda", "cpu", "--ca-cert", str(bad))
    assert result.returncode == 2 and "not a PEM certificate" in one_line(result)


def test_a_missing_combination_exits_2_in_one_line():
    result = imgbuild("build", "--torch", "2.6", "--cuda", "12.1")
    assert result.returncode == 2
    assert "torch 2.6.0 has no CUDA 12.1 build; it has 11.8, 12.4, 12.6" in one_line(result)


def test_release_records_a_failed_variant_and_goes_on(engine, base_image, tmp_path, auth_registry):
    # A registry that answers: an unreachable one is refused by the preflight before any build.
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(f"FROM {base_image}\n{BREAK_APT}\n")
    docker("build", "--provenance=false", "--network", "host", "-t", BROKEN_APT, str(tmp_path / "ctx"), check=True)
    out = tmp_path / "release"
    try:
        result = imgbuild("release", "--variant", "2.6.0-cpu-py3.12-runtime", "--variant", "2.5.1-cpu-py3.11-runtime",
                          "--base-image", BROKEN_APT, "--registry", f"{auth_registry.host}/none", "--out", str(out),
                          env={"IMGBUILD_REGISTRY_USER": auth_registry.user,
                               "IMGBUILD_REGISTRY_PASSWORD": auth_registry.password,
                               **stand_in_locks(tmp_path / "locks", "2.6.0-cpu-py3.12-runtime",
                                                "2.5.1-cpu-py3.11-runtime")})
        assert result.returncode == 6, result.stderr[-2000:]
        assert "2 of 2 variants failed" in one_line(result)
        images = json.loads((out / "release.json").read_text())["images"]
        assert [(e["variant"], e["status"]) for e in images] == [
            ("2.5.1-cpu-py3.11-runtime", "failed"), ("2.6.0-cpu-py3.12-runtime", "failed")]
        assert all("build failed at step 2/" in e["error"] for e in images)
        assert "## Failed" in (out / "TAGS.md").read_text()
    finally:
        docker("rmi", "-f", BROKEN_APT)
        engine.prune_dangling()
