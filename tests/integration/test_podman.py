"""Rootless Podman as imgbuild's engine (docs/restricted.md): scripts/setup-podman.sh makes a user's rootless Podman
and its Docker-compatible API socket; with DOCKER_HOST pointing there, `imgbuild test` runs the whole smoke suite
(the restricted container included) on the test image, `imgbuild build` builds a team image on top of it and
`imgbuild push` pushes that to a real registry, read back with skopeo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from conftest import RUNTIME_REF, TEST_VARIANT
from helpers import ROOT, imgbuild, missing
from registry_server import registry_fixture, skopeo
from test_team_image import make_wheel, team_matrix

USER = "imgbuild-podman"
TEAM = "imgbuild-podman-team"
registry = pytest.fixture(scope="module")(registry_fixture)


@pytest.fixture(scope="module")
def podman(runtime_image, registry):
    """The user's rootless Podman, its socket, and the test image loaded into its store."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        missing("rootless Podman is set up by root with apt-get: sudo bash scripts/setup-podman.sh")
    setup = subprocess.run(["bash", str(ROOT / "scripts" / "setup-podman.sh"), USER, registry.host],
                           capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stderr[-2000:]
    env = {"DOCKER_HOST": setup.stdout.strip().splitlines()[-1]}
    clear_store(env)  # a run killed midway (a session's end) leaves containers and images in the user's store
    # docker save from Docker's daemon, docker load into Podman's: only the second command gets DOCKER_HOST
    save = subprocess.Popen(["docker", "save", runtime_image], stdout=subprocess.PIPE,
                            env={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
    load = subprocess.run(["docker", "load"], stdin=save.stdout, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=1800)
    save.stdout.close()
    assert save.wait(timeout=60) == 0 and load.returncode == 0, load.stderr[-2000:]
    yield env
    clear_store(env)


def clear_store(env):
    """Every container and image in the test user's Podman store goes: the store is the test's alone."""
    env = {**os.environ, **env}
    ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, env=env).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, env=env, timeout=300)
    images = subprocess.run(["docker", "images", "-aq"], capture_output=True, text=True, env=env).stdout.split()
    if images:  # Podman's Docker-compatible prune leaves tagged images: each is removed by id
        subprocess.run(["docker", "rmi", "-f", *set(images)], capture_output=True, env=env, timeout=300)


def test_the_engine_is_rootless_podman(podman):
    info = subprocess.run(["docker", "version", "--format", "{{json .Server}}"], capture_output=True, text=True,
                          env={**os.environ, **podman})
    server = json.loads(info.stdout)
    assert any(part["Name"].startswith("Podman") for part in server["Components"]), info.stdout
    owner = subprocess.run(["stat", "-c", "%U", podman["DOCKER_HOST"].removeprefix("unix://")], capture_output=True,
                           text=True).stdout.strip()
    assert owner == USER  # the socket is the user's: its containers run in the user's namespace, not as root


def test_the_smoke_suite_passes_under_rootless_podman(podman, tmp_path):
    junit = tmp_path / "junit.xml"
    result = imgbuild("test", RUNTIME_REF, "--gpu", "no", "--junit", str(junit), env=podman)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    text = junit.read_text()
    assert "restricted" in text and "ssh_keys_only" in text and "deit" in text
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.imgbuild.managed=true"], capture_output=True,
                          text=True, env={**os.environ, **podman})
    assert left.stdout.split() == []


def test_a_team_image_builds_tests_and_pushes_through_podman(podman, registry, base_image, ca_cert, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "imgbuild_team_probe")
    matrix = team_matrix(tmp_path, ["imgbuild-team-probe==1.0"], [], name=TEAM)
    built = imgbuild("build", "--matrix", str(matrix), *TEST_VARIANT, "--image", TEAM, "--base-image", base_image,
                     "--ca-cert", str(ca_cert), "--wheelhouse", str(wheels), "--network", "host", env=podman)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    assert "imgbuild/pytorch" not in built.stdout  # Podman's store had the parent: only the team's image was built
    ref = f"imgbuild/{TEAM}:2.14.1-cuda13.0-cudnn9-runtime"
    tested = imgbuild("test", ref, "--gpu", "no", env=podman)
    assert tested.returncode == 0 and "team::" in tested.stdout, (tested.stdout + tested.stderr)[-4000:]
    pushed = imgbuild("push", ref, "--registry", f"{registry.host}/podman", env=podman)
    assert pushed.returncode == 0, (pushed.stdout + pushed.stderr)[-3000:]
    config = json.loads(skopeo("inspect", "--tls-verify=false", "--config",
                               f"docker://{registry.host}/podman/{TEAM}:2.14.1-cuda13.0-cudnn9-runtime-amd64"))
    assert config["config"]["Labels"]["io.imgbuild.image"] == TEAM
    assert config["config"]["User"].startswith("1000")
