"""Integration fixtures: a real dockerd, the offline base image, the wheelhouse, and the offline test
variant built once per session with the exact command a user types."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, imgbuild, missing

TEST_VARIANT = ["--torch", "2.14", "--cuda", "13.0", "--python", "3.11"]
RUNTIME_REF = "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime"
DEVEL_REF = "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-devel"
ARM64_BASE = "local/debian:bookworm-arm64"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def engine():
    from imgbuild.core.errors import DaemonError
    from imgbuild.engine.daemon import Engine

    try:
        return Engine()
    except DaemonError as exc:
        missing(f"no Docker daemon: {exc}")


@pytest.fixture(scope="session")
def base_image(engine):
    ref = os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm")
    if engine.image(ref) is None:
        missing(f"base image {ref} is missing: make it with `bash .ci/base-image.sh {ref}`")
    return ref


@pytest.fixture(scope="session")
def wheelhouse():
    path = Path(os.environ.get("IMGBUILD_TEST_WHEELHOUSE", "/var/cache/imgbuild-ci/wheelhouse"))
    if not list(path.glob("torch-2.14.1-*.whl")):
        missing(f"no torch 2.14.1 wheel in {path}: run `imgbuild wheelhouse --variant '2.14.1-cu130-py3.11-*' "
                f"--out {path}`")
    return path


@pytest.fixture(scope="session")
def ca_cert():
    path = Path(os.environ.get("IMGBUILD_TEST_CA_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    if not path.is_file():
        missing(f"no CA bundle at {path}")
    return path


def build_flavor(flavor, base_image, wheelhouse, ca_cert):
    result = imgbuild("build", *TEST_VARIANT, "--flavor", flavor, "--base-image", base_image,
                      "--ca-cert", str(ca_cert), "--wheelhouse", str(wheelhouse), "--network", "host")
    assert result.returncode == 0, f"build failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="session")
def runtime_image(engine, base_image, wheelhouse, ca_cert):
    result = build_flavor("runtime", base_image, wheelhouse, ca_cert)
    assert RUNTIME_REF in result.stdout
    return RUNTIME_REF


@pytest.fixture(scope="session")
def devel_image(engine, runtime_image, base_image, wheelhouse, ca_cert):
    build_flavor("devel", base_image, wheelhouse, ca_cert)
    return DEVEL_REF


@pytest.fixture(scope="session")
def arm64_base(engine):
    """linux/arm64's base, made by `imgbuild base --platform linux/arm64` under qemu (scripts/setup-qemu.sh)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        missing("qemu is registered by root with apt-get: sudo bash scripts/setup-qemu.sh")
    setup = subprocess.run(["bash", str(ROOT / "scripts" / "setup-qemu.sh")], capture_output=True, text=True,
                           timeout=900)
    assert setup.returncode == 0, setup.stderr[-2000:]
    made = imgbuild("base", "--platform", "linux/arm64", timeout=1800)
    assert made.returncode == 0, made.stderr[-2000:]
    assert f"--base-image {ARM64_BASE} --platform linux/arm64" in made.stdout
    return ARM64_BASE
