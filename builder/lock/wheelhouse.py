"""A local wheelhouse: served to builds over loopback (so no wheel lands in a layer), and filled with pip."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from ..core.choices import Index
from ..core.errors import ConfigError, writing
from ..core.paths import new_folder
from ..core.platform import platform
from ..core.redact import redact
from ..core.variant import Variant
from .lockfile import load_lock, lock_index, lock_path


def torch_wheel(wheelhouse: Path, variant: Variant) -> Path | None:
    """The wheelhouse's torch wheel for this variant's version, Python and CUDA build, if it has one."""
    want_python, machine = "cp" + variant.python.replace(".", ""), platform(variant.platform).machine
    for path in sorted(wheelhouse.glob("torch-*.whl")):
        try:
            _, version, _, wheel_tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if version.public != Version(variant.torch).public:
            continue
        if not any(t.interpreter == want_python and t.platform.endswith(machine) for t in wheel_tags):
            continue
        # A local label (+cu124, +cpu) names the build; none means PyPI's build, whose CUDA the matrix knows.
        local = version.local or ""
        if local == variant.cuda_tag or (not local and variant.pypi_carries):
            return path
    return None


# The find-links URL is a build argument, so it is in the cache key of every step after it: one port for every
# wheelhouse, on every machine, lets a build reuse the steps (the CUDA libraries, a Python) that a build from another
# wheelhouse or runner left in a shared cache. The lock's hashes, not the URL, decide what a step installs.
WHEELHOUSE_PORT = 47819


def stable_port(wheelhouse: Path) -> int:
    """The port of a folder where WHEELHOUSE_PORT is taken (a build beside another): the same folder, the same one."""
    digest = hashlib.sha256(str(wheelhouse.resolve()).encode()).digest()
    return 40000 + int.from_bytes(digest[:2], "big") % 20000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@contextmanager
def serve(wheelhouse: Path) -> Iterator[str]:
    """Serve the folder on 127.0.0.1 for the length of a build; yields the find-links URL."""
    if not wheelhouse.is_dir():
        raise ConfigError(f"--wheelhouse {wheelhouse} is not a folder: fill one with `imgbuild wheelhouse --out DIR`")
    handler = functools.partial(_QuietHandler, directory=str(wheelhouse))
    server = None
    for port in (WHEELHOUSE_PORT, stable_port(wheelhouse), 0):
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
            break
        except OSError:
            continue
    if server is None:
        raise ConfigError(f"cannot serve --wheelhouse {wheelhouse} on 127.0.0.1: no free port; free one and re-run")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def fill(variants: list[Variant], out: Path, index: Index) -> Iterator[Variant]:
    """`imgbuild wheelhouse`: every variant's wheels downloaded into `out`, each variant as it is done; every
    variant checked before the first (large) download."""
    for v in variants:
        if index is Index.pypi and not v.pypi_carries:
            raise ConfigError(f"--index pypi: PyPI does not carry the {v.cuda_tag} build of torch {v.torch} "
                              f"({v.id}): use --index auto (or pytorch)")
    for v in variants:
        download(v, out, index=pip_index(v, index))
        yield v


def download(variant: Variant, out: Path, *, index: str | None) -> None:
    """pip download exactly the variant's lock (every file checked against its hash) into `out`."""
    load_lock(variant)  # missing or stale: stop with the command that fixes it
    with writing(out), new_folder(out):
        _download_into(variant, out, index)


def _download_into(variant: Variant, out: Path, index: str | None) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--dest", str(out),
               "-r", str(lock_path(variant))]
    machine = platform(variant.platform).machine
    if variant.python != f"{sys.version_info.major}.{sys.version_info.minor}" or machine != os.uname().machine:
        # pip takes each --platform as one exact tag: every glibc the lock's manylinux_2_28 admits is listed
        # (nvidia-cublas 13.1, for one, is manylinux_2_27)
        command += ["--only-binary=:all:", "--python-version", variant.python,
                    *(arg for glibc in range(28, 16, -1) for arg in ("--platform", f"manylinux_2_{glibc}_{machine}")),
                    "--platform", f"manylinux2014_{machine}"]
    if index or lock_index(variant):
        command += ["--extra-index-url", index or lock_index(variant)]
    # A team's extras are not in the lock: downloaded with their dependencies (the workbench's tools are locked).
    unlocked = list(variant.kind.pip)
    extra = [c for c in command if c not in ("--no-deps", "--require-hashes", "-r", str(lock_path(variant)))]
    for step in (command, extra + unlocked if unlocked else None):
        if step is None:
            continue
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            last = [line for line in result.stderr.splitlines() if line.strip()][-1:] or ["pip failed"]
            raise ConfigError(f"pip download for {variant.name} failed: {redact(last[0])}")


def pip_index(variant: Variant, index: Index) -> str | None:
    """The PyTorch index URL the variant's torch comes from, or None for PyPI (pip's own index)."""
    if index is Index.pypi or (index is Index.auto and variant.pypi_carries):
        return None
    return variant.index
