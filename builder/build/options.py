"""How to build, resolved once from the command line, checked before anything is built; and the facts of a build
that its provenance records."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core import tags
from ..core.choices import Index, Network
from ..core.errors import ConfigError
from ..core.paths import WORK_DIR, read_regular
from ..core.variant import Variant
from ..lock.resolve import configured_index
from ..lock.wheelhouse import pip_index, torch_wheel


@dataclass(frozen=True)
class BuildOptions:
    """How to build, resolved once from the command line (the base image is already in the Variant)."""

    ca_certs: tuple[Path, ...] = ()
    wheelhouse: Path | None = None
    index: Index = Index.auto
    network: Network = Network.host  # loopback wheelhouse, and machines whose daemon has no bridge
    no_cache: bool = False
    work_dir: Path = WORK_DIR
    builder: str | None = None  # a buildx builder's name: None is the engine's own BuildKit
    cache_registry: str | None = None  # HOST/NS/NAME: the build cache every runner imports and exports
    date: dt.date = field(default_factory=tags.build_date)
    created: dt.datetime | None = None  # a fixed build time (`reproduce`: the published image's); else $SOURCE_DATE_EPOCH


def check_options(variants: Iterable[Variant], options: BuildOptions) -> None:
    """Refuse, before anything is built, what cannot work. Run once per run, where the options are read: each CA
    file is read once here, not once per image."""
    for variant in variants:
        if options.index is Index.pypi and not variant.pypi_carries:
            raise ConfigError(f"--index pypi: PyPI's torch {variant.torch} is not the {variant.cuda_tag} build "
                              f"{variant.id} needs; use --index auto (or pytorch) to take it from {variant.index}")
    for cert in options.ca_certs:
        certificates(cert)
    if options.wheelhouse and not options.wheelhouse.is_dir():
        raise ConfigError(f"--wheelhouse {options.wheelhouse} is not a folder: fill one with `imgbuild wheelhouse`")
    if options.wheelhouse and options.network is not Network.host:
        raise ConfigError(f"--wheelhouse is served on 127.0.0.1, which a build on --network {options.network.value} "
                          "cannot reach: use --network host")


def torch_index(variant: Variant, options: BuildOptions) -> str:
    """The PyTorch index URL for the build, or "" for pip's own (PyPI) index."""
    if options.wheelhouse and torch_wheel(options.wheelhouse, variant):
        return ""  # torch comes from the wheelhouse; PyPI has the rest, no need to reach the PyTorch index
    return pip_index(variant, options.index) or ""


def content_options(variant: Variant, options: BuildOptions) -> dict[str, object]:
    """The build options that change what the image holds, for its provenance (no paths of this machine)."""
    wheel = torch_wheel(options.wheelhouse, variant) if options.wheelhouse else None
    return {"index": options.index.value, "torchIndexUrl": torch_index(variant, options) or configured_index(),
            "torchWheel": wheel.name if wheel else None, "noCache": options.no_cache,
            "caCertificates": sorted("sha256:" + hashlib.sha256(certificates(c)).hexdigest() for c in options.ca_certs)}


def revision() -> str:
    """The project's git commit, for the OCI revision label."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def source() -> str:
    if os.environ.get("GITHUB_REPOSITORY"):
        return f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{os.environ['GITHUB_REPOSITORY']}"
    return os.environ.get("IMGBUILD_SOURCE", "https://github.com/imgbuild/imgbuild")


MAX_CA_BYTES = 1 << 20  # a system's whole CA bundle is about 220 KB
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----")


def certificates(path: Path) -> bytes:
    """The PEM certificates of a --ca-cert file, and nothing else of it: a private key beside them is refused, so it
    can never reach a build context or an image."""
    data = read_regular(path, MAX_CA_BYTES, "pass --ca-cert a .crt/.pem file with BEGIN CERTIFICATE", "a certificate file")
    if b"PRIVATE KEY-----" in data:
        raise ConfigError(f"--ca-cert {path}: the file holds a private key, which must never go into an image: pass a "
                          "file with the CA's certificate alone")
    found = _PEM_CERTIFICATE.findall(data)
    if not found:
        raise ConfigError(f"--ca-cert {path}: not a PEM certificate file: pass a .crt/.pem with BEGIN CERTIFICATE")
    return b"\n".join(found) + b"\n"
