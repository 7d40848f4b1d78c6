"""Every base a team names builds. These machines cannot pull ubuntu:24.04 (the matrix's default), so the offline test
variant is built on stand-ins with each trait real bases carry, named in a matrix as a team names its base:
- Ubuntu's traits (tests/fixtures/ubuntu-traits): a user `ubuntu` holding uid 1000, Docker's apt hooks, a dpkg that
  leaves docs out, no python3;
- a real Debian 13 made with debootstrap, whose python3 (3.13) is not the test variant's (3.11): the matrix's
  2.13.0-cu130-py3.13 build is built there instead, since uv cannot fetch a standalone CPython offline;
- a base without apt, refused in one line before anything is built.
Each image is then checked from outside and its CPU suite run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import TEST_VARIANT
from helpers import ROOT, docker, imgbuild, missing

UBUNTU_TRAITS = "local/ubuntu-traits:noble"
TRIXIE = os.environ.get("IMGBUILD_TEST_TRIXIE_BASE", "local/debian:trixie")
TRIXIE_VARIANT = "2.13.0-cu130-py3.13-runtime"


def base_matrix(folder: Path, image: str, base: str) -> Path:
    """matrix.yaml with its own image name (so no tag of the session's test image moves) and this base."""
    text = (ROOT / "matrix.yaml").read_text()
    assert "  image: pytorch\n  base_image: ubuntu:24.04\n" in text
    path = folder / "matrix.yaml"
    path.write_text(text.replace("  image: pytorch\n  base_image: ubuntu:24.04\n",
                                 f"  image: {image}\n  base_image: {base}\n"))
    return path


def build_on(matrix: Path, selection: list[str], wheelhouse: Path, ca_cert: Path):
    result = imgbuild("build", "--matrix", str(matrix), *selection, "--ca-cert", str(ca_cert),
                      "--wheelhouse", str(wheelhouse), "--network", "host")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def remove_repository(repository: str) -> None:
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    if refs:
        docker("rmi", "-f", *refs)


def free_build_cache() -> None:
    """BuildKit's records that no image shares (the stand-in's layers, about 7 GB each, and the download caches): a
    test machine's disk holds only so many torch images. The session's test images keep theirs."""
    docker("builder", "prune", "-f", timeout=600)


def in_image(ref: str, script: str) -> str:
    result = docker("run", "--rm", "--network", "host", "--entrypoint", "bash", ref, "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="class")
def ubuntu_traits(engine, base_image, wheelhouse, ca_cert, tmp_path_factory, devel_image):
    """The stand-in base, then the test variant built on it; (the build's result, the image). The session's runtime and
    devel images are built first: free_build_cache() keeps only the build records an image shares, and the devel
    build must find the runtime's torch layers in the cache to share them."""
    docker("buildx", "build", "--provenance=false", "--network", "host", "--load", "--build-arg", f"BASE={base_image}", "-t",
           UBUNTU_TRAITS, str(ROOT / "tests/fixtures/ubuntu-traits"), check=True, timeout=600)
    matrix = base_matrix(tmp_path_factory.mktemp("ubuntu-traits"), "pytorch-on-ubuntu-traits", UBUNTU_TRAITS)
    result = build_on(matrix, TEST_VARIANT, wheelhouse, ca_cert)
    yield result, "imgbuild/pytorch-on-ubuntu-traits:2.14.1-cuda13.0-cudnn9-runtime"
    remove_repository("imgbuild/pytorch-on-ubuntu-traits")
    docker("rmi", UBUNTU_TRAITS)
    free_build_cache()


class TestUbuntuTraits:
    """A class, so that its class-scoped fixture's image and build records are gone before Debian 13's build: a
    module-scoped one lives to the module's end, and a test machine's disk holds only so many torch images."""

    def test_the_build_names_what_it_meets_in_the_base_before_it_builds(self, ubuntu_traits):
        result, _ = ubuntu_traits
        line = next(line for line in result.stderr.splitlines() if line.startswith(f"base {UBUNTU_TRAITS}:"))
        assert "its user ubuntu gives uid 1000 to ml" in line
        assert "Docker's apt hook kept out of the cached apt steps" in line and "dpkg leaves docs out" in line
        assert result.stderr.index(line) < result.stderr.index("building ")
        log = Path(result.stderr.split("(log: ")[1].split(")")[0]).read_text()
        assert "exporting layers" in log, "not a BuildKit build"

    def test_the_image_contract_holds_on_ubuntus_traits(self, ubuntu_traits):
        _, ref = ubuntu_traits
        config = json.loads(docker("image", "inspect", ref).stdout)[0]["Config"]
        assert config["User"] == "1000:0"
        assert not any(e.startswith(("DEBIAN_FRONTEND=", "PIP_NO_CACHE_DIR=", "PIP_CACHE_DIR=")) for e in config["Env"])
        said = in_image(ref, "id; getent passwd ubuntu || echo no-ubuntu; ls -d /home/*; "
                             "cat /etc/apt/apt.conf.d/docker-clean | head -1; "
                             "echo debs=$(ls /var/cache/apt/archives/*.deb 2>/dev/null | wc -l); "
                             "echo lists=$(ls /var/lib/apt/lists/*_Packages* 2>/dev/null | wc -l); "
                             "test -f /usr/share/doc/openssh-server/copyright && echo license-kept; "
                             "ls /usr/share/man/man8/sshd.8.gz 2>/dev/null || echo no-manual; "
                             "python -c 'import sys, torch; print(sys.version_info[:2], torch.__version__)'")
        assert "uid=1000(ml) gid=0(root)" in said and "no-ubuntu" in said and "/home/ubuntu" not in said
        assert "/home/ml" in said
        # Docker's apt hook is back for the user's own apt-get, and no .deb nor apt list stayed in a layer
        assert 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb' in said
        assert "debs=0" in said and "lists=0" in said, said
        assert "license-kept" in said and "no-manual" in said
        assert "(3, 11) 2.14.1" in said

    def test_the_cpu_suite_passes_on_ubuntus_traits(self, ubuntu_traits):
        _, ref = ubuntu_traits
        result = imgbuild("test", ref, "--gpu", "no")
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="class")
def trixie_image(engine, ca_cert, tmp_path_factory):
    if engine.image(TRIXIE) is None:
        missing(f"no Debian 13 base {TRIXIE}: make it with `imgbuild base --suite trixie --tag {TRIXIE}`")
    wheelhouse = Path(os.environ.get("IMGBUILD_TEST_WHEELHOUSE_PY313", "/var/cache/imgbuild-ci/wheelhouse-py3.13"))
    if not list(wheelhouse.glob("torch-2.13.0-cp313-*.whl")):
        missing(f"no torch 2.13.0 cp313 wheel in {wheelhouse}: imgbuild wheelhouse --variant {TRIXIE_VARIANT} "
                f"--out {wheelhouse}")
    matrix = base_matrix(tmp_path_factory.mktemp("trixie"), "pytorch-on-trixie", TRIXIE)
    result = build_on(matrix, ["--variant", TRIXIE_VARIANT], wheelhouse, ca_cert)
    yield result, "imgbuild/pytorch-on-trixie:2.13.0-cuda13.0-cudnn9-runtime-py3.13"
    remove_repository("imgbuild/pytorch-on-trixie")
    free_build_cache()


class TestDebian13:
    """Its own class, so that Ubuntu's stand-in is removed before this one is built."""

    def test_debian_13_builds_with_its_own_python(self, trixie_image):
        result, ref = trixie_image
        assert f"base {TRIXIE}: Debian GNU/Linux 13 (trixie)" in result.stderr
        assert "uv fetches" not in result.stderr  # its python3 is the variant's: nothing to fetch
        said = in_image(ref, "grep VERSION_CODENAME /etc/os-release; readlink -f /opt/venv/bin/python; id -u; "
                             "python -c 'import torch, torchvision, timm; print(torch.__version__)'")
        assert "VERSION_CODENAME=trixie" in said and "/usr/bin/python3.13" in said and "\n1000\n" in said
        assert "2.13.0" in said

    def test_the_cpu_suite_passes_on_debian_13(self, trixie_image):
        _, ref = trixie_image
        result = imgbuild("test", ref, "--gpu", "no")
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def rootfs_image(ref: str, files: dict[str, bytes]) -> None:
    """A one-layer image of these files alone (docker import)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = subprocess.run(["docker", "import", "-", ref], input=buffer.getvalue(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("files", "said"), [
    ({"etc/os-release": b'NAME="Alpine Linux"\nID=alpine\nPRETTY_NAME="Alpine Linux v3.20"\n',
      "bin/sh": b"#!busybox\n"}, "is Alpine Linux v3.20, which has no apt"),
    ({"bin/sh": b"#!nothing\n"}, "has no /etc/os-release, so it is not a Debian or Ubuntu image"),
])
def test_a_base_without_apt_is_refused_in_one_line_before_anything_is_built(engine, files, said, tmp_path):
    ref = "local/not-apt:1"
    rootfs_image(ref, files)
    try:
        result = imgbuild("build", *TEST_VARIANT, "--base-image", ref)
        assert result.returncode == 2, result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "--base-image" in lines[0], result.stderr
        assert "building" not in result.stderr
    finally:
        docker("rmi", ref)
