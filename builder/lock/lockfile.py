"""Variant -> Lock. Every Python package of an image at an exact version with its hashes.

A lock is resolved once (`imgbuild lock`, uv's resolver) and committed as `locks/<variant id>.txt`; builds
install exactly that file with hashes required, so two builds of one lock install the same bytes. The header
records what the lock was resolved from (the variant's pins, Python, platform, index) and a digest of that:
when the matrix changes a pin, the lock is stale and `render`/`build` stop until it is resolved again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from ..core.errors import ConfigError
from ..core.paths import LOCKS, read_regular
from ..core.platform import DEFAULT_PLATFORM, platform
from ..core.variant import Variant

# The installer's own package index, whatever the machine configures (pip.conf, PIP_INDEX_URL, a mirror):
# a lock names it by role, not by host, so one lock serves every site.
DEFAULT_INDEX = "default"
NINJA_VERSION = "1.13.2"  # what torch.utils.cpp_extension builds with, in devel images
INPUTS_LINE, DIGEST_LINE = "# inputs: ", "# inputs-digest: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
MAX_LOCK_BYTES = 4 << 20  # the largest lock (a devel CUDA 13 image on arm64) is about 140 KB


@dataclass(frozen=True)
class LockInputs:
    """What a lock is resolved from; any change makes the lock stale."""

    requirements: tuple[str, ...]
    python: str
    platform: str
    index: str  # the extra index searched before the default one ("" means the default index alone)

    def as_dict(self) -> dict[str, object]:
        return {"requirements": list(self.requirements), "python": self.python, "platform": self.platform,
                "index": self.index or DEFAULT_INDEX}

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503) name
    version: str
    hashes: tuple[str, ...]

    def requirement(self) -> str:
        """One requirement line with its hashes, in the form pip's hash-checking mode reads."""
        return " \\\n    ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in self.hashes)])


@dataclass(frozen=True)
class Lock:
    variant: str
    path: Path
    inputs_digest: str  # as recorded in the file
    pins: tuple[Pin, ...]
    text: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.text.encode()).hexdigest()

    def versions(self) -> dict[str, str]:
        return {p.name: p.version for p in self.pins}


def lock_index(variant: Variant) -> str:
    """Where torch comes from: PyPI alone when PyPI's torch is this CUDA build, else the PyTorch index first."""
    return "" if variant.pypi_carries else variant.index


def requirements(variant: Variant) -> list[str]:
    """What the image asks for; the lock adds every dependency."""

    reqs = [f"torch=={variant.torch}", f"torchvision=={variant.torchvision}", f"timm=={variant.timm}",
            f"jupyterlab=={variant.jupyterlab}", *variant.python_tools]  # the workbench's TensorBoard, ipywidgets
    if variant.flavor == "devel" and variant.nvcc_package:
        reqs += devel_requirements(variant)
    return reqs


def lock_inputs(variant: Variant) -> LockInputs:
    return LockInputs(requirements=tuple(requirements(variant)), python=variant.python,
                      platform=platform(variant.platform).wheels, index=lock_index(variant))


def lock_path(variant: Variant, env: dict[str, str] | None = None) -> Path:
    """The lock a build reads: $IMGBUILD_LOCKS, else ./locks, else the locks shipped with imgbuild."""
    env = os.environ if env is None else env
    name = f"{variant.id}.txt"
    if env.get("IMGBUILD_LOCKS"):
        return Path(env["IMGBUILD_LOCKS"]) / name
    local = Path("locks") / name
    return local if local.exists() or not (LOCKS / name).exists() else LOCKS / name


def lock_command(variant: Variant) -> str:
    """The command that locks it; a Python other than the build's default is selected only with --python, a
    platform other than linux/amd64 only with --platform."""
    return (f"imgbuild lock --variant {variant.id}" + ("" if variant.default_python else f" --python {variant.python}")
            + ("" if variant.platform == DEFAULT_PLATFORM else f" --platform {variant.platform}"))


def parse_pins(text: str) -> tuple[Pin, ...]:
    """The pins of a requirements file with hashes (uv's or pip-compile's output), comments ignored."""
    pins, current, hashes = [], None, []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if match := _PIN.match(line):
            if current:
                pins.append(Pin(current[0], current[1], tuple(hashes)))
            current, hashes = (str(canonicalize_name(match[1])), match[2]), []
        hashes += _HASH.findall(line)
    if current:
        pins.append(Pin(current[0], current[1], tuple(hashes)))
    return tuple(sorted(pins, key=lambda p: p.name))


def read_lock(path: Path, variant_id: str = "", fix: str = "pass a file `imgbuild lock` wrote") -> Lock:
    """The lock at `path`, or a one-line ConfigError naming it and `fix`. A lock pins every package with its hashes:
    a file without pins (empty, a README) or with a pin that has no hash (a matrix, `pip freeze`) is not one, and
    read as one it would say every package was removed, or install bytes nothing checks."""
    data = read_regular(path, MAX_LOCK_BYTES, fix, "a lock")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a lock (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not "
                          f"UTF-8): {fix}") from None
    recorded = next((line[len(DIGEST_LINE):].strip() for line in text.splitlines() if line.startswith(DIGEST_LINE)),
                    "")
    pins = parse_pins(text)
    if not pins:
        raise ConfigError(f"{path} is not a lock (it has no NAME==VERSION pins): {fix}")
    if unhashed := next((p for p in pins if not p.hashes), None):
        raise ConfigError(f"{path} is not a lock ({unhashed.name}=={unhashed.version[:40]} has no --hash): {fix}")
    return Lock(variant=variant_id or path.stem, path=path, inputs_digest=recorded, pins=pins, text=text)


def load_lock(variant: Variant, env: dict[str, str] | None = None) -> Lock:
    """The variant's lock, or a one-line error naming the command that makes (or refreshes) it."""
    path = lock_path(variant, env)
    if not path.is_file():
        raise ConfigError(f"{variant.id} has no lock ({path}): run `{lock_command(variant)}` first")
    lock = read_lock(path, variant.id, fix=f"run `{lock_command(variant)}`")
    if lock.inputs_digest != lock_inputs(variant).digest:
        raise ConfigError(f"{path} is stale (it was resolved from other pins, Python, platform or index than "
                          f"the matrix now gives {variant.id}): run `{lock_command(variant)}`")
    return lock


def lock_problem(variant: Variant) -> str | None:
    """Why the variant has no current lock (missing, stale, unhashed), in one line naming the command; None when
    it has one."""
    try:
        load_lock(variant)
    except ConfigError as exc:
        return str(exc)
    return None


def devel_requirements(variant: Variant) -> list[str]:
    """nvcc and CCCL (libcu++, Thrust, CUB: cuda_fp16.h needs them) of the variant's CUDA, from NVIDIA's wheels;
    ninja, which torch.utils.cpp_extension builds with."""
    nvcc, cuda = variant.nvcc_package or "", variant.cuda
    reqs = [f"{nvcc}=={cuda}.*", f"{nvcc.replace('nvcc', 'cccl')}=={cuda}.*"]
    if int(cuda.split(".")[0]) >= 13:
        # CUDA 13 splits nvcc into wheels it requires unpinned: a newer NVVM emits PTX this ptxas rejects.
        reqs += [f"nvidia-nvvm=={cuda}.*", f"nvidia-cuda-crt=={cuda}.*"]
    return reqs + [f"ninja=={NINJA_VERSION}"]
