"""Stage 3: BuildContext -> Image. Renders, adds site options (CAs, wheels), builds, then tags."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import tags
from .engine import Engine
from .errors import BuildError, ConfigError
from .inputs import inputs_labels
from .lock import lock_index, lock_path
from .progress import Reporter
from .render import BuildContext, render
from .variant import Variant
from .wheelhouse import serve, torch_wheel


@dataclass(frozen=True)
class BuildOptions:
    base_image: str | None = None
    ca_certs: tuple[Path, ...] = ()
    wheelhouse: Path | None = None
    index: Literal["pytorch", "pypi"] = "pytorch"
    network: str = "host"  # loopback wheelhouse, and machines whose daemon has no bridge
    no_cache: bool = False
    work_dir: Path = Path(".imgbuild")
    date: dt.date = field(default_factory=tags.build_date)


@dataclass(frozen=True)
class Image:
    variant: Variant
    id: str
    refs: tuple[str, ...]  # every local repo:tag it carries, the dated one first
    size: int
    seconds: float
    log: Path

    @property
    def ref(self) -> str:
        """The release tag (moves on rebuild)."""
        return tags.local_ref(self.variant)


def check_options(variant: Variant, options: BuildOptions) -> None:
    """Refuse, before anything is built, what cannot work."""
    if options.index == "pypi" and not variant.pypi_carries:
        raise ConfigError(f"--index pypi: PyPI's torch {variant.torch} is not the {variant.cuda_tag} build "
                          f"{variant.id} needs; drop --index pypi to use {variant.index}")
    for cert in options.ca_certs:
        if not cert.is_file() or b"-----BEGIN CERTIFICATE-----" not in cert.read_bytes():
            raise ConfigError(f"--ca-cert {cert}: not a PEM certificate file: pass a .crt/.pem with BEGIN CERTIFICATE")
    if options.wheelhouse and not options.wheelhouse.is_dir():
        raise ConfigError(f"--wheelhouse {options.wheelhouse} is not a folder: fill one with `imgbuild wheelhouse`")
    if options.wheelhouse and options.network != "host":
        raise ConfigError(f"--wheelhouse is served on 127.0.0.1, which a build on --network {options.network} "
                          "cannot reach: use --network host")


def torch_index(variant: Variant, options: BuildOptions) -> str:
    """The PyTorch index URL for the build, or "" for pip's own (PyPI) index."""
    if options.index == "pypi":
        return ""
    if options.wheelhouse and torch_wheel(options.wheelhouse, variant):
        return ""  # torch comes from the wheelhouse; PyPI has the rest, no need to reach the PyTorch index
    return lock_index(variant)  # "" when the lock was resolved against PyPI alone


def prepare(variant: Variant, options: BuildOptions) -> BuildContext:
    """Render into the work folder and add the site's certificate authorities."""
    ctx = render(variant, options.work_dir / "contexts", options.base_image)
    for cert in options.ca_certs:
        # update-ca-certificates reads only *.crt; the content hash keeps the layer cache stable.
        name = hashlib.sha256(cert.read_bytes()).hexdigest()[:12] + ".crt"
        shutil.copyfile(cert, ctx.path / "ca-certificates" / name)
    return ctx


def build(variant: Variant, engine: Engine, options: BuildOptions, reporter: Reporter) -> Image:
    """Build one variant and tag it with every tag of its scheme; tags are applied only after success."""
    check_options(variant, options)
    ctx = prepare(variant, options)
    logs = options.work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = (logs / f"{variant.id}.build.log").resolve()
    created = tags.build_time()
    labels = tags.build_labels(variant, created, revision(), source()) | inputs_labels(ctx.path, engine, ctx.base_image)
    args = {"TORCH_INDEX_URL": torch_index(variant, options)}
    start = time.monotonic()
    reporter.info(f"building {variant.id} (log: {log_path})")
    with open(log_path, "w", encoding="utf-8") as log, \
            (serve(options.wheelhouse) if options.wheelhouse else nullcontext(None)) as find_links:
        if find_links:
            args |= {"PIP_FIND_LINKS": find_links, "PIP_TRUSTED_HOST": find_links.split("/")[2]}
        with reporter.task(f"build {variant.id}") as update:
            try:
                image_id = engine.build(ctx.path, buildargs=args, labels=labels, network=options.network,
                                        nocache=options.no_cache, log=log, on_step=update)
            except BuildError as exc:
                log.flush()
                raise (hash_mismatch(variant, log_path) or exc) from None
    refs = tuple(f"{tags.local_repository(variant)}:{tag}" for tag in tags.tags(variant, options.date))
    for ref in refs:
        engine.tag(image_id, ref)
    info = engine.image(image_id)
    if info is None:
        raise BuildError(f"image {image_id} vanished after the build of {variant.id}; see {log_path}")
    seconds = time.monotonic() - start
    reporter.info(f"built {variant.id} in {seconds:.0f}s: {refs[1]} ({info.size / 1e9:.2f} GB)")
    return Image(variant=variant, id=image_id, refs=refs, size=info.size, seconds=seconds, log=log_path)


_MISMATCH = re.compile(r"^\s+(\S+==\S+) from .*\n\s+Expected sha256", re.MULTILINE)


def hash_mismatch(variant: Variant, log_path: Path) -> BuildError | None:
    """pip's hash check failed: name the package and the lock instead of pip's twenty lines."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if "DO NOT MATCH THE HASHES" not in text:
        return None
    match = _MISMATCH.search(text)
    what = match[1] if match else "a package"
    return BuildError(f"{what} does not match its hash in {lock_path(variant)}: the lock or the package source "
                      f"was altered; review the lock (`git diff locks/`) and re-resolve with "
                      f"`imgbuild lock --variant {variant.id}` (log: {log_path})")


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
