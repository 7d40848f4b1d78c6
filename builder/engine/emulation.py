"""Running an image of another architecture under qemu-user (scripts/setup-qemu.sh): what the emulator does not
provide, the container gets. QEMU 7.2 (Debian bookworm's) passes the host's own /proc/cpuinfo through, and torch's
cpuinfo library, parsing an x86 file on aarch64, crashes `import torch` with a segmentation fault; an aarch64
/proc/cpuinfo of the host's core count lets it start. QEMU's default CPU ("max") also offers SVE2 and armv9, for which
torch.compile's Inductor then builds, and Debian's gcc 12 stops on ATen's SVE headers: QEMU_CPU (which qemu-user reads
from the process's environment) makes it the Neoverse N1 the cpuinfo names. Never used on a host of the image's own
architecture."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import platformdirs

from ..core.platform import ARM64, of_machine

# A Neoverse N1 core (Graviton2, Ampere Altra): the baseline every aarch64 torch wheel supports.
ARM64_CORE = ("BogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
              "asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\n"
              "CPU part\t: 0xd0c\nCPU revision\t: 1\n")


QEMU_CPU = {"QEMU_CPU": "neoverse-n1"}


def emulated(image_architecture: str, host_machine: str | None = None) -> bool:
    """An arm64 image on a host of another architecture: it runs under qemu-user."""
    return image_architecture == ARM64.architecture and of_machine(host_machine or platform.machine()) is not ARM64


def environment(image_architecture: str, host_machine: str | None = None) -> dict[str, str]:
    """What an emulated container's environment adds (nothing when it runs natively)."""
    return dict(QEMU_CPU) if emulated(image_architecture, host_machine) else {}


def mounts(image_architecture: str, host_machine: str | None = None) -> dict[str, dict[str, str]]:
    """Bind mounts a container of this architecture needs on this host (none when it runs natively)."""
    if not emulated(image_architecture, host_machine):
        return {}
    folder = Path(platformdirs.user_cache_dir("imgbuild")) / "emulation"
    folder.mkdir(parents=True, exist_ok=True)
    cpuinfo = folder / "cpuinfo-arm64"
    text = "".join(f"processor\t: {i}\n{ARM64_CORE}\n" for i in range(os.cpu_count() or 1))
    if not cpuinfo.is_file() or cpuinfo.read_text() != text:
        cpuinfo.write_text(text)
    return {str(cpuinfo): {"bind": "/proc/cpuinfo", "mode": "ro"}}
