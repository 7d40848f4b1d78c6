"""A second Docker engine beside the host's, on its own socket and data root: an empty machine's engine, or an older
engine than the one the tests build with."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def second_dockerd(root: Path, dockerd: str = "dockerd", env: dict | None = None,
                   containerd_store: bool = False) -> Iterator[str]:
    """Start `dockerd` (a path or a name on PATH) and yield its DOCKER_HOST; stop it and drop its runtime folder.
    `containerd_store`: with the containerd image store, as the host's engine (scripts/setup-docker.sh)."""
    short = f"/tmp/ib2-{secrets.token_hex(3)}"  # a unix socket's path must stay short
    sock = f"unix://{short}/docker.sock"
    log_path = root / "dockerd.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([dockerd, "--data-root", str(root / "data"), "--exec-root", short, "--pidfile",
                                 str(root / "pid"), "-H", sock, "--bridge=none", "--iptables=false",
                                 *(["--config-file", str(_store_config(root))] if containerd_store else [])],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        for _ in range(60):
            if subprocess.run(["docker", "-H", sock, "info"], capture_output=True).returncode == 0:
                break
            if proc.poll() is not None:
                break
            time.sleep(1)
        else:
            pytest.fail("the second dockerd did not start: " + log_path.read_text()[-1500:])
        if proc.poll() is not None:
            pytest.fail("the second dockerd exited: " + log_path.read_text()[-1500:])
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(short, ignore_errors=True)
        shutil.rmtree(root / "data", ignore_errors=True)  # its images: GB that the session's later tests need


def _store_config(root: Path) -> Path:
    path = root / "daemon.json"
    path.write_text('{"features": {"containerd-snapshotter": true}}\n')
    return path
