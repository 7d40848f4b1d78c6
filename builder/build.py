"""Stage 3: BuildContext -> Image. Renders, adds site options (CAs, wheels), builds, then tags."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import attest, tags
from .engine import Engine
from .errors import BuildError, ConfigError
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
    date: dt.date = field(default_factory=dt.date.today)


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
    return variant.index


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
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    facts = attest.BuildFacts(source(), revision(), ctx.base_image, content_options(variant, options), created)
    labels = tags.build_labels(variant, created, facts.revision, facts.source)
    args = {"TORCH_INDEX_URL": torch_index(variant, options)}
    start = time.monotonic()
    reporter.info(f"building {variant.id} (log: {log_path})")
    with open(log_path, "w", encoding="utf-8") as log, \
            (serve(options.wheelhouse) if options.wheelhouse else nullcontext(None)) as find_links:
        if find_links:
            args |= {"PIP_FIND_LINKS": find_links, "PIP_TRUSTED_HOST": find_links.split("/")[2]}
        with reporter.task(f"build {variant.id}") as update:
            image_id = engine.build(ctx.path, buildargs=args, labels=labels, network=options.network,
                                    nocache=options.no_cache, log=log, on_step=update)
        image_id = attest.seal(engine, image_id, variant, facts, options.work_dir, log, reporter)
    refs = tuple(f"{tags.local_repository(variant)}:{tag}" for tag in tags.tags(variant, options.date))
    for ref in refs:
        engine.tag(image_id, ref)
    info = engine.image(image_id)
    if info is None:
        raise BuildError(f"image {image_id} vanished after the build of {variant.id}; see {log_path}")
    seconds = time.monotonic() - start
    reporter.info(f"built {variant.id} in {seconds:.0f}s: {refs[1]} ({info.size / 1e9:.2f} GB)")
    return Image(variant=variant, id=image_id, refs=refs, size=info.size, seconds=seconds, log=log_path)


def content_options(variant: Variant, options: BuildOptions) -> dict[str, object]:
    """The build options that change what the image holds, for its provenance (no paths of this machine)."""
    wheel = torch_wheel(options.wheelhouse, variant) if options.wheelhouse else None
    return {"index": options.index, "torchIndexUrl": torch_index(variant, options) or "https://pypi.org/simple",
            "torchWheel": wheel.name if wheel else None, "noCache": options.no_cache,
            "caCertificates": sorted("sha256:" + hashlib.sha256(c.read_bytes()).hexdigest() for c in options.ca_certs)}


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
