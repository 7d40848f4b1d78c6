"""Stage 3: BuildContext -> Image. Renders, adds site options (CAs, wheels), builds, then tags."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from . import attest, tags
from .choices import Index, Network
from .engine import Engine, ImageInfo
from .errors import BuildError, ConfigError, writing
from .inputs import BASE_DIGEST_LABEL, inputs_labels
from .lock import configured_index, lock_path
from .paths import WORK_DIR
from .progress import Reporter
from .reference import ImageRef
from .render import BuildContext, render
from .team import base_of
from .variant import Variant
from .wheelhouse import serve, torch_wheel


@dataclass(frozen=True)
class BuildOptions:
    """How to build, resolved once from the command line (the base image is already in the Variant)."""

    ca_certs: tuple[Path, ...] = ()
    wheelhouse: Path | None = None
    index: Index = Index.auto
    network: Network = Network.host  # loopback wheelhouse, and machines whose daemon has no bridge
    no_cache: bool = False
    work_dir: Path = WORK_DIR
    date: dt.date = field(default_factory=tags.build_date)


@dataclass(frozen=True)
class Image:
    """A local image and every tag it carries: what a build returns and what `push` takes."""

    id: str
    ref: ImageRef  # the name to use it by: the release tag after a build, the user's reference for `push IMAGE`
    refs: tuple[ImageRef, ...]  # every tag of it in its repository, the dated one first
    labels: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    variant: Variant | None = None  # known when imgbuild built it in this run
    seconds: float = 0.0
    log: Path | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(r.tag for r in self.refs if r.tag)

    @classmethod
    def from_info(cls, ref: ImageRef, info: ImageInfo) -> Image:
        """An image the engine has: every tag it carries in `ref`'s repository (the dated one first)."""
        mine = [parsed for t in info.tags if (parsed := ImageRef.parse(t)).same_repository(ref)]
        ordered = sorted(mine, key=lambda r: not tags.is_dated(r.tag or ""))
        return cls(id=info.id, ref=ref, refs=tuple(ordered) or (ref,), labels=dict(info.labels), size=info.size)


def check_options(variant: Variant, options: BuildOptions) -> None:
    """Refuse, before anything is built, what cannot work."""
    if options.index is Index.pypi and not variant.pypi_carries:
        raise ConfigError(f"--index pypi: PyPI's torch {variant.torch} is not the {variant.cuda_tag} build "
                          f"{variant.id} needs; use --index auto (or pytorch) to take it from {variant.index}")
    for cert in options.ca_certs:
        if not cert.is_file() or b"-----BEGIN CERTIFICATE-----" not in cert.read_bytes():
            raise ConfigError(f"--ca-cert {cert}: not a PEM certificate file: pass a .crt/.pem with BEGIN CERTIFICATE")
    if options.wheelhouse and not options.wheelhouse.is_dir():
        raise ConfigError(f"--wheelhouse {options.wheelhouse} is not a folder: fill one with `imgbuild wheelhouse`")
    if options.wheelhouse and options.network is not Network.host:
        raise ConfigError(f"--wheelhouse is served on 127.0.0.1, which a build on --network {options.network.value} "
                          "cannot reach: use --network host")


def pip_index(variant: Variant, index: Index) -> str | None:
    """The PyTorch index URL the variant's torch comes from, or None for PyPI (pip's own index)."""
    if index is Index.pypi or (index is Index.auto and variant.pypi_carries):
        return None
    return variant.index


def torch_index(variant: Variant, options: BuildOptions) -> str:
    """The PyTorch index URL for the build, or "" for pip's own (PyPI) index."""
    if options.wheelhouse and torch_wheel(options.wheelhouse, variant):
        return ""  # torch comes from the wheelhouse; PyPI has the rest, no need to reach the PyTorch index
    return pip_index(variant, options.index) or ""


def prepare(variant: Variant, options: BuildOptions) -> BuildContext:
    """Render into the work folder and add the site's certificate authorities."""
    contexts = options.work_dir / "contexts"
    with writing(contexts):
        ctx = render(variant, contexts)
        for cert in options.ca_certs:
            # update-ca-certificates reads only *.crt; the content hash keeps the layer cache stable.
            name = hashlib.sha256(cert.read_bytes()).hexdigest()[:12] + ".crt"
            shutil.copyfile(cert, ctx.path / "ca-certificates" / name)
    return ctx


def build(variant: Variant, engine: Engine, options: BuildOptions, reporter: Reporter) -> Image:
    """Build one variant and tag it with every tag of its scheme; tags are applied only after success."""
    check_options(variant, options)
    if variant.team:  # a team's image: layers above the variant's own image (team.py)
        from .team import build_team

        return build_team(variant, engine, options, reporter)
    ctx = prepare(variant, options)
    return build_context(ctx, engine, options, reporter, {"TORCH_INDEX_URL": torch_index(variant, options)})


def build_context(ctx: BuildContext, engine: Engine, options: BuildOptions, reporter: Reporter,
                  args: dict[str, str], name: str | None = None) -> Image:
    """Build a rendered context (the wheelhouse served meanwhile) and tag it with its variant's tags."""
    variant, name = ctx.variant, name or ctx.variant.name
    logs = options.work_dir / "logs"
    log_path = (logs / f"{name}.build.log").resolve()
    created = tags.build_time()
    base = tags.local_ref(base_of(variant)) if variant.team else variant.base_image  # a team's image: its FROM
    inputs = inputs_labels(ctx.path, engine, base)
    facts = attest.BuildFacts(source(), revision(), base, inputs[BASE_DIGEST_LABEL], content_options(variant, options),
                              created)
    labels = tags.build_labels(variant, created, facts.revision, facts.source) | inputs
    start = time.monotonic()
    reporter.info(f"building {name} (log: {log_path})")
    with writing(log_path):
        logs.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed below; OSError named above)
    with log, (serve(options.wheelhouse) if options.wheelhouse else nullcontext(None)) as find_links:
        if find_links:
            args |= {"PIP_FIND_LINKS": find_links, "PIP_TRUSTED_HOST": find_links.split("/")[2]}
        with reporter.task(f"build {name}") as update:
            try:
                image_id = engine.build(ctx.path, buildargs=args, labels=labels, network=options.network.value,
                                        nocache=options.no_cache, log=log, on_step=update)
            except BuildError as exc:
                log.flush()
                raise (hash_mismatch(variant, log_path) or exc) from None
        image_id = attest.seal(engine, image_id, variant, facts, options.work_dir, log, reporter)
    local = ImageRef(tags.local_repository(variant))
    refs = tuple(local.with_tag(tag) for tag in tags.tags(variant, options.date))
    for ref in refs:
        engine.tag(image_id, ref)
    info = engine.image(image_id)
    if info is None:
        raise BuildError(f"image {image_id} vanished after the build of {name}; see {log_path}")
    seconds = time.monotonic() - start
    image = Image(id=image_id, ref=local.with_tag(tags.release_tag(variant)), refs=refs, labels=dict(info.labels),
                  size=info.size, variant=variant, seconds=seconds, log=log_path)
    reporter.info(f"built {name} in {seconds:.0f}s: {image.ref} ({info.size / 1e9:.2f} GB)")
    return image


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


def content_options(variant: Variant, options: BuildOptions) -> dict[str, object]:
    """The build options that change what the image holds, for its provenance (no paths of this machine)."""
    wheel = torch_wheel(options.wheelhouse, variant) if options.wheelhouse else None
    return {"index": options.index.value, "torchIndexUrl": torch_index(variant, options) or configured_index(),
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
