"""imgbuild doctor (host/doctor.py) without a daemon: a fake engine, a pretend driver, the report's exit code."""

from __future__ import annotations

import io
from unittest.mock import create_autospec

import pytest
from imgbuild.cli.doctor import print_checks
from imgbuild.core.errors import DaemonError
from imgbuild.engine.daemon import Engine
from imgbuild.engine.values import ImageInfo
from imgbuild.host import doctor
from imgbuild.host.checks import Check, split_message
from imgbuild.host.doctor import run_checks
from rich.console import Console


def fake_engine(runtimes: list[str], root: str) -> Engine:
    """An autospec of Engine: a method the real Engine lacks, or a changed signature, fails the test."""
    engine = create_autospec(Engine, instance=True)
    engine.api_version = "1.45"
    engine.info.return_value = {"ServerVersion": "27.0", "DockerRootDir": root,
                                "Runtimes": dict.fromkeys(runtimes, {})}
    engine.image.return_value = ImageInfo(id="sha256:1", tags=(), digests=(), architecture="amd64")  # every base is here
    return engine


def hubless_engine(runtimes: list[str], root: str) -> Engine:
    """A daemon that has no base image and cannot reach Docker Hub."""
    engine = fake_engine(runtimes, root)
    engine.image.return_value = None

    def no_hub(ref, auth=None, platform=None):
        raise DaemonError(f"cannot pull {ref}: no such host")
    engine.pull.side_effect = no_hub
    return engine


def checks_with(monkeypatch: pytest.MonkeyPatch, matrix, driver: str | None, runtimes: list[str], root: str):
    monkeypatch.setattr(doctor, "host_driver", lambda: driver)
    monkeypatch.setattr(doctor, "docker_has_nvidia", lambda r: "nvidia" in r)
    return {c.name: c for c in run_checks(lambda: fake_engine(runtimes, root), matrix.host_needs(), {})}


def test_an_old_driver_lists_the_cuda_versions_it_runs(monkeypatch, matrix, tmp_path) -> None:
    checks = checks_with(monkeypatch, matrix, "550.54.14", ["nvidia", "runc"], str(tmp_path))
    driver = checks["NVIDIA driver"]
    assert driver.ok is None and "12.4" in driver.detail and "not 13.0, 13.2" in driver.detail
    assert "580.65.06" in driver.fix and checks["docker --gpus"].ok is True


def test_a_new_driver_runs_every_cuda(monkeypatch, matrix, tmp_path) -> None:
    driver = checks_with(monkeypatch, matrix, "595.58.03", ["nvidia"], str(tmp_path))["NVIDIA driver"]
    assert driver.ok is True and "13.2" in driver.detail


def test_a_driver_without_the_container_toolkit_fails(monkeypatch, matrix, tmp_path) -> None:
    gpus = checks_with(monkeypatch, matrix, "595.58.03", ["runc"], str(tmp_path))["docker --gpus"]
    assert gpus.ok is False and "nvidia-ctk" in gpus.fix


def test_no_driver_is_a_warning_naming_the_fix(monkeypatch, matrix, tmp_path) -> None:
    checks = checks_with(monkeypatch, matrix, None, ["runc"], str(tmp_path))
    assert checks["NVIDIA driver"].ok is None and checks["docker --gpus"].ok is None
    assert "NVIDIA Container Toolkit" in checks["NVIDIA driver"].fix


def test_an_unreadable_docker_root_is_a_warning(monkeypatch, matrix) -> None:
    disk = checks_with(monkeypatch, matrix, None, ["runc"], "/nonexistent/docker")["disk space"]
    assert disk.ok is None and "/nonexistent/docker" in disk.detail


def test_no_daemon_is_a_failure_and_skips_the_daemon_checks(monkeypatch, matrix) -> None:
    def no_daemon():
        raise DaemonError("cannot reach the Docker daemon: start it or point DOCKER_HOST at one (refused)")

    monkeypatch.setattr(doctor, "host_driver", lambda: None)
    checks = {c.name: c for c in run_checks(no_daemon, matrix.host_needs(), {"DOCKER_HOST": "tcp://nowhere:2375"})}
    detail = "cannot reach the Docker daemon (refused) [DOCKER_HOST=tcp://nowhere:2375]"
    fix = "start it or point DOCKER_HOST at one"
    assert checks["docker daemon"] == Check("docker daemon", False, detail, fix)
    assert "disk space" not in checks and "docker --gpus" not in checks


@pytest.mark.parametrize("message, parts", [
    ("registry h refused user 'u': check X or run docker login h",
     ("registry h refused user 'u'", "check X or run docker login h")),
    ("cause: fix (`a`, or `b`) or c (err: ('x', E(2, 'y')))",
     ("cause (err: ('x', E(2, 'y')))", "fix (`a`, or `b`) or c")),
    ("no colon here", ("no colon here", "")),
])
def test_split_message(message: str, parts: tuple[str, str]) -> None:
    assert split_message(message) == parts


def test_warnings_exit_zero_and_failures_exit_one() -> None:
    console = Console(file=io.StringIO(), width=200)
    assert print_checks([Check("a", True, "fine"), Check("b", None, "meh", "do x")], console) == 0
    assert print_checks([Check("a", True, "fine"), Check("c", False, "broken", "do y")], console) == 2
    # the kind of the first failure, never 1 (a bug): no daemon is 3, a refused login 7
    assert print_checks([Check("docker daemon", False, "down", "start it"), Check("registry", False, "x")],
                        console) == 3
    assert print_checks([Check("matrix", True, "ok"), Check("registry", False, "refused", "login")], console) == 7
    assert "failed: c" in console.file.getvalue()


def test_a_base_that_cannot_be_pulled_names_imgbuild_base(monkeypatch, matrix, tmp_path):
    monkeypatch.setattr(doctor, "host_driver", lambda: None)
    checks = {c.name: c for c in run_checks(lambda: hubless_engine([], str(tmp_path)), matrix.host_needs(), {})}
    base = checks["base image"]
    assert base.ok is None and "cannot be pulled" in base.detail and "imgbuild base" in base.fix


def test_the_disk_check_asks_for_the_measured_peak_of_the_flavors_about_to_be_built(monkeypatch, tmp_path):
    from collections import namedtuple

    from imgbuild.host import checks

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda path: usage(14 * 10**9, 0, int(10.5 * 10**9)))
    info = {"DockerRootDir": str(tmp_path)}
    assert checks.disk_check(info, ["runtime"]).ok is True
    refused = checks.disk_check(info, ["runtime", "devel"])  # the larger need of the two
    assert refused.ok is False and "a release of a devel image needs about 11 GB" in refused.detail
    assert all(need < 13.4 * 10**9 for need in checks.BUILD_SPACE.values())  # both fit a hosted runner's 14 GB
