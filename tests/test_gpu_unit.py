"""The GPU decision: --gpu auto|yes|no against a host's driver, its Docker runtimes and the image's CUDA."""

from __future__ import annotations

from unittest.mock import create_autospec

import pytest
from imgbuild.core.choices import GpuMode
from imgbuild.core.errors import SmokeError
from imgbuild.engine.daemon import Engine
from imgbuild.host import gpu


def engine_with(runtimes: list[str]) -> Engine:
    engine = create_autospec(Engine, instance=True)
    engine.runtimes.return_value = runtimes
    return engine


@pytest.fixture
def host(monkeypatch):
    def set_host(driver: str | None, hook: bool = False) -> None:
        monkeypatch.setattr(gpu, "host_driver", lambda: driver)
        monkeypatch.setattr(gpu.shutil, "which", lambda name: "/usr/bin/hook" if hook else None)
    return set_host


@pytest.mark.parametrize("driver, runtimes, cuda, runs", [
    ("595.58.03", ["nvidia", "runc"], "13.0", True),
    ("595.58.03", ["runc"], "13.0", False),  # no NVIDIA Container Toolkit
    (None, ["nvidia"], "12.4", False),  # no driver
    ("550.54.14", ["nvidia"], "13.0", False),  # driver too old for CUDA 13.0 (needs 580.65.06)
    ("595.58.03", ["nvidia"], "cpu", False),  # a CPU image has no GPU tier
])
def test_auto_runs_the_gpu_tier_only_where_it_can(host, driver, runtimes, cuda, runs):
    host(driver)
    min_driver = "none" if cuda == "cpu" else ("580.65.06" if cuda == "13.0" else "525.60.13")
    assert gpu.decide(GpuMode.auto, engine_with(runtimes), min_driver, cuda) is runs


def test_no_never_asks_the_engine(host):
    host("595.58.03")
    engine = engine_with(["nvidia"])
    assert gpu.decide(GpuMode.no, engine, "580.65.06", "13.0") is False
    engine.runtimes.assert_not_called()


@pytest.mark.parametrize("driver, runtimes, words", [
    (None, ["nvidia"], "no NVIDIA driver"),
    ("550.54.14", ["nvidia"], "older than 580.65.06"),
    ("595.58.03", ["runc"], "nvidia-ctk runtime configure"),
    ("banana", ["nvidia"], "cannot compare"),
])
def test_yes_where_it_cannot_run_names_the_missing_link(host, driver, runtimes, words):
    host(driver)
    with pytest.raises(SmokeError, match="--gpu yes: the GPU tier cannot run") as err:
        gpu.decide(GpuMode.yes, engine_with(runtimes), "580.65.06", "13.0")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_container_toolkit_hook_counts_as_a_runtime(host):
    host("595.58.03", hook=True)
    assert gpu.decide(GpuMode.yes, engine_with(["runc"]), "580.65.06", "13.0") is True
