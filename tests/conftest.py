"""Shared fixtures. Integration tests (marked `integration`) need a real dockerd; under CI=true they
never skip: a missing daemon, base image or wheelhouse is a failure."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from helpers import ROOT, SMALL_MATRIX


@pytest.fixture(scope="session")
def matrix():
    """The small fixture matrix: unit tests test the code, not today's matrix.yaml (test_matrix_data.py does)."""
    from imgbuild.matrix.load import load_matrix

    return load_matrix(SMALL_MATRIX)


@pytest.fixture
def cli(monkeypatch, capsys):
    """`cli(*args, cwd=, env=)` runs the command line in this process as `imgbuild ARGS` would run (main(): every
    failure one `imgbuild: error:` line and its exit code) and answers like subprocess.run: a process costs a second
    of imports. The hostile tables (hostile.py) still run real processes: they measure a command's CPU and memory."""
    from imgbuild.cli.app import main

    def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        capsys.readouterr()  # what the test printed before is not the command's
        sigterm = signal.getsignal(signal.SIGTERM)  # main() takes SIGTERM over; pytest keeps its own
        with monkeypatch.context() as scope:
            scope.chdir(cwd)
            for name, value in (env or {}).items():
                scope.setenv(name, value)
            try:
                main(list(args))
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
            finally:
                signal.signal(signal.SIGTERM, sigterm)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["imgbuild", *args], code, out, err)

    return run


def pytest_report_header(config) -> str:
    """The disk left where images and temporary registries go: the first thing to read when a build fails late."""
    places = {"/": "/", "temp": tempfile.gettempdir()}
    return "disk free: " + ", ".join(f"{name} {shutil.disk_usage(path).free / 1e9:.0f} GB"
                                     for name, path in places.items())


class DiskWatch:
    """The lowest free disk on / in the run, and the test that was running then, sampled every few seconds: after a
    build fails on a full disk, the run's summary says where the disk was lowest, not only which test met the end."""

    def __init__(self, every: float = 3.0):
        self.test = "(collection)"
        self.lowest: tuple[float, str] = (float("inf"), self.test)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.sample_until_stopped, args=(every,), daemon=True)

    def sample(self) -> None:
        free = shutil.disk_usage("/").free / 1e9
        if free < self.lowest[0]:
            self.lowest = (free, self.test)

    def sample_until_stopped(self, every: float) -> None:
        while not self.stopped.wait(every):
            self.sample()


_disk_watch: DiskWatch | None = None  # pytest_runtest_logstart is handed no config to find it in


def pytest_configure(config) -> None:
    global _disk_watch
    _disk_watch = DiskWatch()
    _disk_watch.sample()
    _disk_watch.thread.start()


def pytest_runtest_logstart(nodeid, location) -> None:
    if _disk_watch is not None:
        _disk_watch.test = nodeid
        _disk_watch.sample()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _disk_watch is None:
        return
    _disk_watch.stopped.set()
    _disk_watch.sample()
    free, test = _disk_watch.lowest
    terminalreporter.write_line(f"disk: lowest free on / was {free:.1f} GB, during {test}")
