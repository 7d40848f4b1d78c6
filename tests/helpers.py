"""Helpers shared by the tests (kept out of conftest.py so both conftest files can import them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL_MATRIX = ROOT / "tests" / "fixtures" / "matrix-small.yaml"  # what unit tests run on, not today's matrix.yaml
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# The one way a test starts imgbuild as a process: from this interpreter, never from PATH, so a venv that is not
# activated tests its own imgbuild (and PYTHONPATH=checkout tests that checkout).
IMGBUILD = (sys.executable, "-m", "imgbuild.cli")


def as_foreground() -> None:
    """For a child that is sent Ctrl-C: SIGINT at its default, as a terminal's foreground process has it. A shell's
    background job (`cmd &`, as a CI runner may start the tests) ignores SIGINT, and so would every process it
    starts: Python then installs no KeyboardInterrupt, and the command would never hear the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass(frozen=True)
class Signalled:
    code: int
    stderr: str
    seconds: float  # from the signal to the command's end

    def assert_one_line(self, code: int, line: str) -> None:
        """It ended with `code` and one `imgbuild: error:` line, `line`, which is its last."""
        errors = [text for text in self.stderr.splitlines() if text.startswith("imgbuild: error:")]
        assert self.code == code and errors == [f"imgbuild: error: {line}"], (self.code, self.stderr[-3000:])
        assert self.stderr.strip().splitlines()[-1] == errors[0], self.stderr[-3000:]


def signalled(command: list[str], signum: int, ready: Callable[[], bool], *, env: dict | None = None,
              cwd: Path = ROOT, within: float = 900) -> Signalled:
    """Run a real command, send it `signum` once `ready()` (asked twice a second, for `within` s at most), and wait
    for its end. It runs as a terminal's foreground job would (as_foreground), and its pipes are read while it ends:
    unread, a full pipe would block its last words."""
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_foreground)
    try:
        deadline = time.monotonic() + within
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=60)
            time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)  # a loaded CI machine gets two minutes
    finally:
        proc.kill()
    return Signalled(proc.returncode, err, time.monotonic() - sent)


def missing(what: str) -> None:
    """Fail under CI, skip on a developer's machine: never a silent pass."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: integration tests never skip)")
    pytest.skip(what)


def imgbuild(*args: str, env: dict | None = None, timeout: int = 3600) -> subprocess.CompletedProcess:
    """The real CLI in a process of its own, as a user runs it (unit tests use the `cli` fixture: in this process)."""
    return subprocess.run([*IMGBUILD, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})


def docker(*args: str, timeout: int = 300, check: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def smoke_containers() -> list[str]:
    """The containers imgbuild's smoke test started that are still there (running or not)."""
    return docker("ps", "-aq", "--filter", "label=io.imgbuild.managed=true").stdout.split()


def stand_in_locks(folder: Path, *variant_ids: str) -> dict[str, str]:
    """Locks that are current for these variants but pin one package with a made-up hash: enough to render
    and to build up to the install step (for tests that fail earlier); returns the env that selects them."""
    from imgbuild.lock.lockfile import DIGEST_LINE, lock_inputs
    from imgbuild.matrix.load import load_matrix
    from imgbuild.matrix.select import Selection, select

    folder.mkdir(parents=True, exist_ok=True)
    for variant in select(load_matrix(ROOT / "matrix.yaml"), Selection(variant=variant_ids)):
        (folder / f"{variant.id}.txt").write_text(
            f"{DIGEST_LINE}{lock_inputs(variant).digest}\nsix==1.17.0 --hash=sha256:{'0' * 64}\n")
    return {"IMGBUILD_LOCKS": str(folder)}
