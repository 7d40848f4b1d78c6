"""Can this host run the GPU tier? Each missing link named: runtime, driver, driver age, image CUDA."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..core.choices import GpuMode
from ..core.errors import SmokeError

TOOLKIT_FIX = ("install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`, "
               "then restart dockerd")


def host_driver() -> str | None:
    """The NVIDIA kernel driver version on this host, or None when there is none."""
    proc = Path("/proc/driver/nvidia/version")
    try:
        match = re.search(r"Kernel Module[^0-9]*([0-9][0-9.]+)", proc.read_text()) if proc.exists() else None
    except OSError:  # unreadable: ask nvidia-smi instead
        match = None
    if match:
        return match[1]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):  # a hung or broken driver reads as no driver
            return None
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    return None


def docker_has_nvidia(runtimes: list[str]) -> bool:
    """`docker run --gpus` needs the NVIDIA Container Toolkit: its runtime or its hook."""
    return "nvidia" in runtimes or bool(shutil.which("nvidia-container-runtime-hook"))


def missing_link(runtimes: list[str], min_driver: str, cuda: str, driver: str | None) -> str | None:
    """Why the GPU tier cannot run here, or None when it can."""
    if cuda in ("", "cpu"):
        return "this is a CPU image: it has no GPU tier (use --gpu no)"
    if driver is None:
        return ("no NVIDIA driver on this host (no /proc/driver/nvidia/version, no nvidia-smi): "
                "run on a machine with an NVIDIA GPU and its driver, or use --gpu no")
    try:
        too_old = min_driver not in ("", "none") and Version(driver) < Version(min_driver)
    except InvalidVersion:
        return f"cannot compare the host's NVIDIA driver {driver!r} with {min_driver!r}: check nvidia-smi"
    if too_old:
        return (f"the host's NVIDIA driver {driver} is older than {min_driver}, the minimum for CUDA {cuda}: "
                "upgrade the driver or test an image with an older CUDA")
    if not docker_has_nvidia(runtimes):
        return f"Docker has no NVIDIA runtime (--gpus cannot work): {TOOLKIT_FIX}"
    return None


def decide(mode: GpuMode, engine, min_driver: str, cuda: str) -> bool:
    """--gpu auto|yes|no -> run the GPU tier? `yes` where it cannot run is an error with the diagnosis."""
    if mode is GpuMode.no:
        return False
    why = missing_link(engine.runtimes(), min_driver, cuda, host_driver())
    if why and mode is GpuMode.yes:
        raise SmokeError(f"--gpu yes: the GPU tier cannot run: {why}")
    return why is None
