"""`imgbuild doctor` against the real dockerd of this host (and a real registry for the login check)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds conftest helpers, registry_server

from helpers import ROOT, missing
from imgbuild.cli.doctor import doctor_cmd, print_checks
from imgbuild.core.errors import DaemonError
from imgbuild.engine.daemon import Engine
from imgbuild.host.checks import Check
from imgbuild.host.doctor import NO_GPU_FIX, run_checks
from imgbuild.host.gpu import host_driver
from imgbuild.matrix.load import load_matrix
from registry_server import RegistryServer, auth_registry_fixture
from rich.console import Console

pytestmark = pytest.mark.integration

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)
MATRIX = load_matrix(ROOT / "matrix.yaml").host_needs()
WIDE = {"COLUMNS": "250"}  # rich wraps table cells at the terminal width


def doctor(*args: str, env: dict[str, str] | None = None):
    app = typer.Typer()
    app.command()(doctor_cmd)
    argv = ["--matrix", str(ROOT / "matrix.yaml"), *args]
    return CliRunner().invoke(app, argv, env={**WIDE, **(env or {})})


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.fixture(scope="module")
def docker_engine() -> Engine:
    try:
        return Engine(timeout=15)
    except DaemonError as exc:
        missing(f"no Docker daemon: {exc}")


def test_daemon_check_passes_and_reports_the_api_version(docker_engine: Engine) -> None:
    daemon = by_name(run_checks(lambda: docker_engine, MATRIX, os.environ))["docker daemon"]
    assert daemon.ok is True and f"API {docker_engine.api_version}" in daemon.detail


def test_a_host_without_a_gpu_gets_warnings_that_name_the_fix(docker_engine: Engine) -> None:
    checks = by_name(run_checks(lambda: docker_engine, MATRIX, os.environ))
    driver = checks["NVIDIA driver"]
    if host_driver() is None:
        assert driver.ok is None and "no NVIDIA driver" in driver.detail and driver.fix == NO_GPU_FIX
        assert checks["docker --gpus"].ok in (True, None)  # no driver: a missing runtime is expected
    else:  # a GPU host: the driver is compared with the matrix's CUDA versions
        assert driver.detail.startswith(f"driver {host_driver()}") and "CUDA" in driver.detail


def test_doctor_exits_zero_on_a_healthy_build_host(docker_engine: Engine) -> None:
    failed = [c for c in run_checks(lambda: docker_engine, MATRIX, os.environ) if c.ok is False]
    result = doctor()
    assert "docker daemon" in result.output and "NVIDIA driver" in result.output
    # Missing GPU pieces are warnings; only a real failure (say a full disk) may make doctor fail (the kind's code).
    assert result.exit_code == (print_checks(failed, Console(file=io.StringIO())) if failed else 0), result.output
    assert not [c for c in failed if c.name in ("docker daemon", "NVIDIA driver", "registry")]


def test_a_bad_docker_host_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    daemon = by_name(run_checks(lambda: Engine(timeout=15), MATRIX, os.environ))["docker daemon"]
    assert daemon.ok is False and "unix:///nonexistent.sock" in daemon.detail
    assert "DOCKER_HOST" in daemon.fix and "start" in daemon.fix
    result = doctor(env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.exit_code == 3 and "cannot reach the Docker daemon" in result.output, result.output  # a daemon's


def test_registry_login_is_checked_with_the_given_credentials(auth_registry: RegistryServer) -> None:
    good = {"IMGBUILD_REGISTRY_USER": auth_registry.user,
            "IMGBUILD_REGISTRY_PASSWORD": auth_registry.password}
    check = by_name(run_checks(_no_daemon, MATRIX, good, f"{auth_registry.host}/team"))["registry"]
    assert check.ok is True and repr(auth_registry.user) in check.detail

    bad = {**good, "IMGBUILD_REGISTRY_PASSWORD": "wrong"}
    check = by_name(run_checks(_no_daemon, MATRIX, bad, f"{auth_registry.host}/team"))["registry"]
    assert check.ok is False and "refused" in check.detail and "docker login" in check.fix
    assert "wrong" not in check.detail + check.fix


def test_a_bad_registry_value_fails_with_the_fix() -> None:
    check = by_name(run_checks(_no_daemon, MATRIX, {}, "https://Example.com"))["registry"]
    assert check.ok is False and "HOST[:PORT]/NAMESPACE" in check.fix


def _no_daemon():
    raise DaemonError("cannot reach the Docker daemon: not needed for this test")
