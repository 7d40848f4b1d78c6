"""TensorBoard works: scalars written with torch.utils.tensorboard are read back, and served over HTTP."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import List

import pytest

pytest.importorskip("tensorboard", reason="TensorBoard is not in this image's workbench")

LOSSES = [1.0, 0.5, 0.25, 0.125]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run, `train`, with a `loss` scalar per step, written as a training script would."""
    from torch.utils.tensorboard import SummaryWriter

    root = tmp_path_factory.mktemp("logs")
    writer = SummaryWriter(log_dir=str(root / "train"))
    for step, loss in enumerate(LOSSES):
        writer.add_scalar("loss", loss, step)
    writer.close()
    return root


def test_summary_writer_scalars_read_back(logdir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logdir / "train"))
    events.Reload()
    scalars = events.Scalars("loss")
    assert [(e.step, e.value) for e in scalars] == list(enumerate(LOSSES))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_tensorboard_serves_the_scalars(logdir: Path, tmp_path: Path) -> None:
    """The `tensorboard` command a user types, asked over its HTTP API like the browser does."""
    port, log = _free_port(), tmp_path / "tensorboard.log"
    command = shutil.which("tensorboard")
    assert command, "the tensorboard command is not on PATH"
    with open(log, "w") as out:
        server = subprocess.Popen([command, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
                                   "--reload_interval", "1"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    runs: List[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "train" not in runs:
            try:
                runs = list(_get_json(f"{base}/data/runs"))  # type: ignore[arg-type]
            except OSError:
                pass
            time.sleep(0.5)
        assert "train" in runs, f"TensorBoard never listed the run (runs: {runs}): {log.read_text()[-1500:]}"
        scalars = _get_json(f"{base}/data/plugin/scalars/scalars?run=train&tag=loss")
        assert [(row[1], row[2]) for row in scalars] == list(enumerate(LOSSES))  # type: ignore[union-attr]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
