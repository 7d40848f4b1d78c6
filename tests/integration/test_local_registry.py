"""The embedded default registry and the preflight, as a user meets them: `imgbuild registry start`, then
`imgbuild push IMAGE` with no --registry, read back with skopeo; a dead or refusing registry stops `release`
in seconds, before anything is built."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time

import pytest
from helpers import docker, imgbuild
from registry_server import auth_registry_fixture, require_registry_tools, skopeo

BASE = os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm")
TEST_VARIANT = ["--torch", "2.14", "--cuda", "13.0", "--python", "3.11", "--flavor", "runtime"]
auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def data_home(tmp_path):
    """Each test's own user data folder, so its registry storage and state are its own."""
    require_registry_tools()
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    yield env
    imgbuild("registry", "stop", env=env)


@pytest.fixture
def small_image(engine):
    ref = f"imgbuild-local-{secrets.token_hex(3)}/tiny:1.0"
    out = subprocess.run(["docker", "build", "-q", "--provenance=false", "--network", "host", "-t", ref, "-"],
                         input=f"FROM {BASE}\nRUN echo {secrets.token_hex(8)} > /payload\n",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    yield ref
    docker("rmi", "-f", ref)


def test_registry_start_status_stop_and_its_storage_survives(data_home, small_image):
    port = _free_port()
    started = imgbuild("registry", "start", "--port", str(port), env=data_home)
    assert started.returncode == 0, started.stderr
    assert f"127.0.0.1:{port}" in started.stdout and str(data_home["XDG_DATA_HOME"]) in started.stdout
    status = imgbuild("registry", "status", env=data_home)
    assert status.returncode == 0 and "running" in status.stdout and "runs:" in status.stdout

    pushed = imgbuild("push", small_image, "--allow-untested", env=data_home)  # no --registry: the local one
    assert pushed.returncode == 0, pushed.stderr
    assert "pinned:" in pushed.stdout and "docker run" in pushed.stdout
    repo = f"127.0.0.1:{port}/imgbuild/tiny"
    digest = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{repo}:1.0").strip()
    assert digest.startswith("sha256:") and f"{repo}:1.0@{digest}" in pushed.stdout

    assert imgbuild("registry", "stop", env=data_home).returncode == 0
    stopped = imgbuild("registry", "status", env=data_home)
    assert stopped.returncode == 1 and "stopped" in stopped.stdout
    assert imgbuild("registry", "start", env=data_home).returncode == 0  # same port, same storage
    again = skopeo("inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{repo}:1.0").strip()
    assert again == digest


def test_release_to_a_registry_that_is_down_fails_in_seconds_and_builds_nothing(engine, tmp_path):
    started = time.monotonic()
    result = imgbuild("release", *TEST_VARIANT, "--base-image", BASE, "--registry", f"127.0.0.1:{_free_port()}/team",
                      "--out", str(tmp_path / "out"))
    seconds = time.monotonic() - started
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "preflight" in lines[0] and "not reachable" in lines[0], result.stderr
    assert "building" not in result.stdout and seconds < 30
    assert not (tmp_path / "out").exists()  # nothing written either


def test_release_with_refused_credentials_fails_before_building(engine, auth_registry, tmp_path):
    user = auth_registry.creds.split(":", 1)[0]
    wrong = "wrong-" + secrets.token_hex(6)
    result = imgbuild("release", *TEST_VARIANT, "--base-image", BASE, "--registry", f"{auth_registry.host}/team",
                      "--out", str(tmp_path / "out"),
                      env={"IMGBUILD_REGISTRY_USER": user, "IMGBUILD_REGISTRY_PASSWORD": wrong})
    assert result.returncode != 0 and "building" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "preflight" in lines[0] and "credentials" in lines[0], result.stderr
    assert wrong not in result.stdout + result.stderr


def test_a_base_image_that_cannot_be_pulled_names_imgbuild_base(tmp_path, data_home):
    port = _free_port()
    assert imgbuild("registry", "start", "--port", str(port), env=data_home).returncode == 0
    result = imgbuild("release", *TEST_VARIANT, "--base-image", f"no-such-base-{secrets.token_hex(3)}:1",
                      "--out", str(tmp_path / "out"), env=data_home)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "cannot be pulled" in lines[0] and "imgbuild base" in lines[0]
