"""A team's image (matrix.yaml `images:`): every extra it declares is installed and imports. That torch, torchvision
and CUDA are still what the labels promise is test_identity's job, for every image."""
from __future__ import annotations

import importlib
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version

import pytest

from conftest import declared, import_names

PIP, APT = declared("IMGBUILD_TEAM_PIP"), declared("IMGBUILD_TEAM_APT")
NOT_A_TEAM_IMAGE = "not a team image (no io.imgbuild.team.* labels)"


def distribution(requirement: str) -> str:
    """'opencv-python-headless[extra]>=4.10; python_version>"3"' -> 'opencv-python-headless'."""
    return re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]


@pytest.mark.parametrize("requirement", PIP or [None])
def test_pip_extra_is_installed_and_imports(requirement) -> None:
    if requirement is None:
        pytest.skip(NOT_A_TEAM_IMAGE)
    name = distribution(requirement)
    try:
        version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} ({requirement}) is declared but not installed", pytrace=False)
    modules = import_names(name)
    assert modules, f"{name} is installed but provides no importable module"
    for module in modules:
        importlib.import_module(module)


@pytest.mark.parametrize("package", APT or [None])
def test_apt_extra_is_installed(package) -> None:
    if package is None:
        pytest.skip(NOT_A_TEAM_IMAGE)
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True).stdout
    assert status.strip() == "install ok installed", f"apt package {package} is declared but not installed ({status})"
