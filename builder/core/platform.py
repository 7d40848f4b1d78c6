"""The platforms an image is built for: Docker's name (linux/arm64), the wheel platform a lock resolves for, and
the suffix a variant id carries. linux/amd64 is the platform every id without a suffix means, so that no id (and
no tag a team pinned) changed meaning when arm64 came."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Platform:
    name: str  # Docker's and the OCI index's spelling: linux/arm64
    architecture: str  # the OCI image config's: arm64
    machine: str  # `uname -m` inside the image: aarch64
    wheels: str  # the platform uv resolves a lock for (glibc 2.28: Debian bookworm and Ubuntu 24.04 are newer)
    id_suffix: str  # appended to the variant id
    variant: str | None = None  # the OCI platform's CPU variant, as official images' indexes name arm64's (v8)

    def oci(self) -> dict[str, str]:
        """The `platform` of an OCI index entry."""
        found = {"architecture": self.architecture, "os": "linux"}
        return found | ({"variant": self.variant} if self.variant else {})


AMD64 = Platform("linux/amd64", "amd64", "x86_64", "x86_64-manylinux_2_28", "")
ARM64 = Platform("linux/arm64", "arm64", "aarch64", "aarch64-manylinux_2_28", "-arm64", "v8")
PLATFORMS = {p.name: p for p in (AMD64, ARM64)}
DEFAULT_PLATFORM = AMD64.name
_SPELLINGS = {**{p.name: p.name for p in PLATFORMS.values()}, **{p.architecture: p.name for p in PLATFORMS.values()},
              **{p.machine: p.name for p in PLATFORMS.values()}}


def platform(name: str) -> Platform:
    return PLATFORMS[name]


def of_machine(machine: str) -> Platform | None:
    """The platform of a `uname -m` (x86_64, aarch64), None for one imgbuild does not build for."""
    name = _SPELLINGS.get(machine.lower())
    return PLATFORMS[name] if name else None


def engine_platform(name: str) -> str | None:
    """What to ask the engine for: None for linux/amd64, so that no build, pull or import of the platform every
    image has ever had asks an engine for a platform it may not support (rootless Podman, older dockerd)."""
    return None if name == DEFAULT_PLATFORM else name


def parse_platform(value: str, all_too: bool = True) -> str:
    """linux/arm64, arm64 and aarch64 all name linux/arm64; anything else is refused with the names that work
    (`all` among them where the command takes it: a selection does, one image's platform does not)."""
    found = _SPELLINGS.get(value.strip().lower())
    if not found:
        also = " (or all)" if all_too else " (one platform: run it once for each)"
        raise ConfigError(f"--platform {value[:40]!r} is not a platform: use {', '.join(PLATFORMS)}{also}")
    return found
