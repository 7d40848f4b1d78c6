"""The image as restricted pods, Apptainer and HPC sites run it: a read-only root, a UID with no name and outside
group 0, every capability dropped, no privilege escalation; only /tmp (a tmpfs) and a mounted checkpoints folder
writable. Every service of the image contract must still work there, with no traceback in the log."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from ..core.reference import ImageRef
from ..engine.daemon import Engine
from . import probes
from .report import SmokeCase

UID, GID = 12345, 12345  # like a Kubernetes runAsUser / runAsGroup: not in /etc/passwd, not group 0
CHECKPOINTS = "/workspace/checkpoints"  # a mounted folder owned by that UID, as a volume with fsGroup would be
TRAIN = ["python", "/opt/imgbuild/examples/train_deit.py", "--synthetic", "--steps", "2", "--batch-size", "2",
         "--workers", "0", "--device", "cpu", "--log-every", "1"]


def restricted_cases(engine: Engine, image_ref: ImageRef, key: Path, user_name: str, ports: tuple[int, int, int],
                     timeout: float = 300) -> list[SmokeCase]:
    """Start the image restricted, probe JupyterLab, SSH and TensorBoard, train two DeiT steps into the mounted
    folder; ports are JupyterLab's, SSH's and TensorBoard's."""
    start = time.monotonic()
    jupyter_port, ssh_port, tensorboard_port = ports
    token = secrets.token_hex(16)
    env = {"JUPYTER_TOKEN": token, "JUPYTER_PORT": str(jupyter_port), "SSH_PORT": str(ssh_port),
           "TENSORBOARD_PORT": str(tensorboard_port),
           "SSH_AUTHORIZED_KEYS": key.with_suffix(".pub").read_text().strip()}
    container = engine.start(image_ref, environment=env, user=f"{UID}:{GID}", shm_size="1g", read_only=True,
                             tmpfs={"/tmp": "rw,nosuid,nodev,mode=1777", CHECKPOINTS: engine.tmpfs_owned_by(UID, GID)},
                             no_privileges=True, labels={"io.imgbuild.smoke": "true"})
    cases = []
    try:
        for probe in (probes.jupyter_auth(jupyter_port, token), probes.ssh_login(key, ssh_port, user_name)):
            cases.append(SmokeCase(probe.name.replace("outside::", "restricted::"),
                                   "passed" if probe.passed else "failed", probe.seconds, probe.message))
        began = time.monotonic()
        board = probes.wait_for_http(f"http://127.0.0.1:{tensorboard_port}/", timeout=60)
        cases.append(SmokeCase("restricted::tensorboard_answers", "passed" if board else "failed",
                               time.monotonic() - began, "" if board else f"no answer on port {tensorboard_port}"))
        log = container.logs()
        if not container.running():
            return [*cases, SmokeCase("restricted::container_keeps_running", "failed", time.monotonic() - start,
                                      f"it stopped: {log.strip()[-800:]}")]
        began = time.monotonic()
        train = container.exec(["timeout", str(int(timeout)), *TRAIN])
        saved = f"checkpoint: {CHECKPOINTS}/" in train.output
        cases.append(SmokeCase("restricted::deit_checkpoint_in_mounted_folder",
                               "passed" if train.exit_code == 0 and saved else "failed", time.monotonic() - began,
                               "" if saved else f"exit {train.exit_code}: {train.output.strip()[-800:]}"))
        log = container.logs()
        clean = "Traceback" not in log and "Read-only file system" not in log
        cases.append(SmokeCase("restricted::log_has_no_traceback", "passed" if clean else "failed",
                               time.monotonic() - start, "" if clean else log.strip()[-1500:]))
    finally:
        container.remove()
    return cases
