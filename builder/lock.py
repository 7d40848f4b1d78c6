"""Stage 1b: Variant -> Lock. Every Python package of an image at an exact version with its hashes.

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
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from .errors import ConfigError
from .paths import LOCKS
from .variant import Variant

# The platform every image runs on: glibc x86_64 (Debian bookworm and Ubuntu 24.04 are both newer than 2.28).
LOCK_PLATFORM = "x86_64-manylinux_2_28"
# The installer's own package index, whatever the machine configures (pip.conf, PIP_INDEX_URL, a mirror):
# a lock names it by role, not by host, so one lock serves every site.
DEFAULT_INDEX = "default"
INPUTS_LINE, DIGEST_LINE = "# inputs: ", "# inputs-digest: "
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


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
    from .render import devel_requirements  # render imports this module: import late

    reqs = [f"torch=={variant.torch}", f"torchvision=={variant.torchvision}", f"timm=={variant.timm}",
            f"jupyterlab=={variant.jupyterlab}", *variant.python_tools]  # the workbench's TensorBoard, ipywidgets
    if variant.flavor == "devel" and variant.nvcc_package:
        reqs += devel_requirements(variant)
    return reqs


def lock_inputs(variant: Variant) -> LockInputs:
    return LockInputs(requirements=tuple(requirements(variant)), python=variant.python, platform=LOCK_PLATFORM,
                      index=lock_index(variant))


def write_dir(env: dict[str, str] | None = None) -> Path:
    """Where `imgbuild lock` writes: $IMGBUILD_LOCKS, else ./locks."""
    env = os.environ if env is None else env
    return Path(env.get("IMGBUILD_LOCKS") or "locks")


def lock_path(variant: Variant, env: dict[str, str] | None = None) -> Path:
    """The lock a build reads: $IMGBUILD_LOCKS, else ./locks, else the locks shipped with imgbuild."""
    env = os.environ if env is None else env
    name = f"{variant.id}.txt"
    if env.get("IMGBUILD_LOCKS"):
        return Path(env["IMGBUILD_LOCKS"]) / name
    local = Path("locks") / name
    return local if local.exists() or not (LOCKS / name).exists() else LOCKS / name


def lock_command(variant: Variant) -> str:
    return f"imgbuild lock --variant {variant.id}"


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


def read_lock(path: Path, variant_id: str = "") -> Lock:
    text = path.read_text(encoding="utf-8")
    recorded = next((line[len(DIGEST_LINE):].strip() for line in text.splitlines() if line.startswith(DIGEST_LINE)),
                    "")
    return Lock(variant=variant_id or path.stem, path=path, inputs_digest=recorded, pins=parse_pins(text), text=text)


def load_lock(variant: Variant, env: dict[str, str] | None = None) -> Lock:
    """The variant's lock, or a one-line error naming the command that makes (or refreshes) it."""
    path = lock_path(variant, env)
    if not path.is_file():
        raise ConfigError(f"{variant.id} has no lock ({path}): run `{lock_command(variant)}` first")
    lock = read_lock(path, variant.id)
    if lock.inputs_digest != lock_inputs(variant).digest:
        raise ConfigError(f"{path} is stale (it was resolved from other pins, Python, platform or index than "
                          f"the matrix now gives {variant.id}): run `{lock_command(variant)}`")
    if not lock.pins or any(not p.hashes for p in lock.pins):
        raise ConfigError(f"{path} has no pins or a pin without a hash: run `{lock_command(variant)}`")
    return lock


def resolve(variant: Variant, out_dir: Path, *, find_links: Path | None = None, offline: bool = False) -> Lock:
    """Resolve the variant's whole package set with uv and write out_dir/<variant id>.txt."""
    inputs = lock_inputs(variant)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / f".{variant.id}.in"
    source.write_text("\n".join(inputs.requirements) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--generate-hashes", "--no-header",
               "--python-version", inputs.python, "--python-platform", inputs.platform, str(source)]
    if inputs.index:
        command += ["--extra-index-url", inputs.index]
    if find_links:
        command += ["--find-links", str(find_links)]
    if offline:
        command += ["--no-index", "--offline"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})
    except OSError as exc:
        raise ConfigError(f"cannot run uv ({exc}): pip install uv") from None
    finally:
        source.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ConfigError(f"cannot lock {variant.id}: {_uv_failure(result.stderr, inputs)}")
    body = result.stdout.replace(f"-r {source}", "-r requirements").replace(f"-r {source.name}", "-r requirements")
    header = [f"# imgbuild lock of {variant.id}: do not edit; refresh with `{lock_command(variant)}`",
              f"{INPUTS_LINE}{json.dumps(inputs.as_dict(), sort_keys=True)}",
              f"{DIGEST_LINE}{inputs.digest}"]
    path = out_dir / f"{variant.id}.txt"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    tmp.replace(path)
    return read_lock(path, variant.id)


def _uv_failure(stderr: str, inputs: LockInputs) -> str:
    """uv's reason in one line, and the fix that fits it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fetch = next((line for line in lines if "Failed to fetch" in line), None)
    if fetch:
        url = fetch.split("Failed to fetch:", 1)[-1].strip()
        return (f"an index is not reachable ({url}): check the network or the proxy, or resolve from a "
                "wheelhouse with --find-links DIR --offline")
    if "No module named uv" in stderr:
        return "uv is not installed: pip install uv"
    cause = next((line for line in lines if line.startswith(("cause:", "Because"))), lines[-1] if lines else "")
    cause = cause.removeprefix("cause:").strip().rstrip(".")[:400] or "uv failed"
    return f"{cause}: check the matrix's pins (Python {inputs.python}) or the --find-links folder"


def configured_index() -> str:
    """The default index as this machine configures it (PIP_INDEX_URL, UV_DEFAULT_INDEX, pip.conf's index-url),
    for a provenance that says what a build used; DEFAULT_INDEX where nothing overrides the installer's own."""
    url = next((os.environ[name] for name in ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL")
                if os.environ.get(name)), "")
    if not url:
        try:
            found = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                   capture_output=True, text=True, timeout=30)
            url = found.stdout.strip() if found.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            url = ""
    parts = urlsplit(url)
    # A mirror's URL may carry a token: the provenance keeps the host and path only.
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=host).geturl() if url else DEFAULT_INDEX
