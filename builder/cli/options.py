"""Command-line options, resolved once at the edge into typed values (cibuildwheel's options.py is the model).

Options that several commands share are declared once, as the fields of a frozen bundle (`SelectionOptions`,
`BuildFlags`); a command names the bundle as one parameter and `@cli_options` spells its fields out as typer
options, then hands the command one constructed bundle. Closed sets (`--gpu`, `--index`, `--network`) are Enums,
so typer refuses an unknown value before any work starts.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..core import tags
from ..core.choices import GpuMode, Index, Network
from ..core.errors import ConfigError
from ..core.output import Reporter
from ..core.paths import DEFAULT_MATRIX, WORK_DIR
from ..core.reference import ImageRef
from ..core.variant import Variant

if typing.TYPE_CHECKING:  # imported when used, so that `imgbuild --help` stays fast (the matrix: pydantic)
    from ..build.options import BuildOptions
    from ..matrix.load import Matrix
    from ..matrix.select import Selection
    from ..registry.target import RegistryTarget

MatrixOpt = Annotated[Optional[Path], typer.Option("--matrix", readable=False,  # the loader says why it cannot read
                                                  help="matrix file [default: ./matrix.yaml]")]
TorchOpt = Annotated[Optional[str], typer.Option("--torch", help="torch minor (2.6) or release (2.6.0)")]
CudaOpt = Annotated[Optional[str], typer.Option("--cuda", help="CUDA version (12.4) or cpu")]
FlavorOpt = Annotated[Optional[str], typer.Option("--flavor", help="runtime or devel")]
PythonOpt = Annotated[Optional[str], typer.Option("--python", help="Python version, or all [default: each build's default]")]
VariantOpt = Annotated[Optional[list[str]],
                      typer.Option("--variant", metavar="ID|GLOB",
                                   help="variant id or glob, e.g. '2.6.0-cu124-*' (repeatable)")]
PlatformOpt = Annotated[Optional[str], typer.Option(
    "--platform", help="linux/amd64, linux/arm64 or all [default: linux/amd64]")]
BaseImageOpt = Annotated[Optional[str], typer.Option("--base-image", help="replace the matrix's base image")]
CaCertOpt = Annotated[Optional[list[Path]], typer.Option("--ca-cert", metavar="PATH",
                                                                 help="extra CA certificate (repeatable)")]
WheelhouseOpt = Annotated[Optional[Path], typer.Option("--wheelhouse", help="take wheels from this folder first")]
IndexOpt = Annotated[Index, typer.Option(
    "--index", help="auto: PyPI where it carries the variant's CUDA build, else the PyTorch index; pytorch; pypi")]
NetworkOpt = Annotated[Network, typer.Option("--network", help="network for the build")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="build every layer anew")]
BuilderOpt = Annotated[Optional[str], typer.Option(
    "--builder", envvar="IMGBUILD_BUILDER", metavar="NAME",
    help="the buildx builder that builds (docker-container, kubernetes, remote) [default: the engine's own]")]
CacheRegistryOpt = Annotated[Optional[str], typer.Option(
    "--cache-registry", envvar="IMGBUILD_CACHE_REGISTRY", metavar="HOST/NS/NAME",
    help="a registry repository for the build cache that every runner shares: each build takes the layers "
         "another built and adds its own")]
GpuOpt = Annotated[GpuMode, typer.Option("--gpu", help="auto: the GPU tier where the host has a GPU; yes; no")]
ImageOpt = Annotated[Optional[list[str]],
                    typer.Option("--image", metavar="NAME", help="only this image of each variant: the standard "
                                                                 "one (pytorch) or a team's (matrix.yaml images:) "
                                                                 "[default: all]")]


def matrix_path(given: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """--matrix, else $IMGBUILD_MATRIX, else ./matrix.yaml, else the project's own."""
    env = os.environ if env is None else env
    if given:
        return given
    if env.get("IMGBUILD_MATRIX"):
        return Path(env["IMGBUILD_MATRIX"])
    local = Path("matrix.yaml")
    return local if local.exists() else DEFAULT_MATRIX


def matrix_named(given: Path | None) -> Matrix:
    """--matrix resolved into the Matrix it names, checked whole (matrix/)."""
    from ..matrix.load import load_matrix

    return load_matrix(matrix_path(given))


@dataclass(frozen=True)
class SelectionOptions:
    """--matrix and the selection options every command that acts on variants takes."""

    matrix: MatrixOpt = None
    torch: TorchOpt = None
    cuda: CudaOpt = None
    flavor: FlavorOpt = None
    python: PythonOpt = None
    variant: VariantOpt = None
    platform: PlatformOpt = None
    images: ImageOpt = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "variant", tuple(self.variant or ()))  # typer hands over a list
        object.__setattr__(self, "images", tuple(self.images or ()))

    def selection(self, *, one_flavor: bool = False) -> Selection:
        """`one_flavor`: with neither --flavor nor --variant, commands that make images act on the runtime
        flavor, so `build --torch 2.6 --cuda 12.4` means one image."""
        from ..matrix.select import Selection

        flavor = "runtime" if one_flavor and not self.flavor and not self.variant else self.flavor
        return Selection(torch=self.torch, cuda=self.cuda, flavor=flavor, python=self.python,
                         variant=tuple(self.variant or ()), platform=self.platform)

    def load(self) -> Matrix:
        return matrix_named(self.matrix)

    def variants(self, *, one_flavor: bool = False, teams: bool = False) -> list[Variant]:
        """The selected variants (a NothingSelected that says what exists when there are none). `teams`:
        commands that act on images get each variant's team images too (matrix.yaml `images:`; --image
        keeps some)."""
        from ..matrix.select import select
        from ..matrix.teams import with_images

        matrix = self.load()
        chosen = select(matrix, self.selection(one_flavor=one_flavor))
        if teams or self.images:
            chosen = with_images(matrix, chosen, list(self.images) or None)
        return chosen


@dataclass(frozen=True)
class BuildFlags:
    """The build options of `build` and `release`: site needs (base image, CAs, wheels) and build settings."""

    base_image: BaseImageOpt = None
    ca_cert: CaCertOpt = None
    wheelhouse: WheelhouseOpt = None
    index: IndexOpt = Index.auto
    network: NetworkOpt = Network.host
    no_cache: NoCacheOpt = False
    builder: BuilderOpt = None
    cache_registry: CacheRegistryOpt = None

    def __post_init__(self) -> None:
        for name in ("builder", "cache_registry"):  # an empty variable (a workflow's unset `vars.`) is none
            if not (getattr(self, name) or "").strip():
                object.__setattr__(self, name, None)
        if self.builder is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", self.builder):
            raise ConfigError(f"--builder {self.builder[:40]!r} is not a buildx builder's name: see `docker buildx ls`")
        if self.cache_registry is not None:
            try:
                ref = ImageRef.parse(self.cache_registry)
            except ConfigError as exc:
                raise ConfigError(f"--cache-registry: {exc}") from None
            if ref.tag or ref.digest or not ref.registry:
                raise ConfigError(f"--cache-registry {self.cache_registry!r}: name a repository as HOST/NS/NAME, "
                                  "without a tag (each build writes its own tags there)")
            object.__setattr__(self, "cache_registry", ref.full_repository)
        if self.base_image is not None:  # it becomes a FROM line: parsed here, and only its parsed form goes on
            if not self.base_image.strip():
                raise ConfigError("--base-image is empty: give an image reference like debian:bookworm, or leave it "
                                  "out for the matrix's")
            try:
                parsed = ImageRef.parse(self.base_image)
            except ConfigError as exc:
                raise ConfigError(f"--base-image: {exc}") from None
            object.__setattr__(self, "base_image", str(parsed))

    def apply(self, variant: Variant) -> Variant:
        """The variant as this site builds it: --base-image replaces the matrix's base, once, here."""
        return dataclasses.replace(variant, base_image=self.base_image) if self.base_image else variant

    def options(self, work_dir: Path = WORK_DIR) -> BuildOptions:
        from ..build.options import BuildOptions

        return BuildOptions(ca_certs=tuple(self.ca_cert or ()), wheelhouse=self.wheelhouse, index=self.index,
                            network=self.network, no_cache=self.no_cache, work_dir=work_dir, builder=self.builder,
                            cache_registry=self.cache_registry)

    def resolve(self, variants: list[Variant], work_dir: Path = WORK_DIR) -> tuple[list[Variant], BuildOptions]:
        """The variants as this site builds them and the build options, each checked before any work starts."""
        from ..build.options import check_options

        variants, options = [self.apply(v) for v in variants], self.options(work_dir)
        check_options(variants, options)  # once per run: the stages after this take the options as checked
        return variants, options


BUNDLES = (SelectionOptions, BuildFlags)


def cli_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Spell out each bundle parameter of `command` as typer options; call it with the bundle constructed once."""
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    bundles: dict[str, tuple[type, list[str]]] = {}
    for param in signature.parameters.values():
        if param.annotation not in BUNDLES:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
            continue
        hints = typing.get_type_hints(param.annotation, include_extras=True)
        fields = dataclasses.fields(param.annotation)
        bundles[param.name] = (param.annotation, [f.name for f in fields])
        params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                     annotation=hints[f.name]) for f in fields]
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: two options share a name in {names}")

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        for name, (bundle, fields) in bundles.items():
            kwargs[name] = bundle(**{f: kwargs.pop(f) for f in fields})
        return command(**kwargs)

    del wrapper.__wrapped__  # typer must read the spelt-out signature, not the command's
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def images_named(image: str | None, select: SelectionOptions) -> list[ImageRef]:
    """An explicit IMAGE argument, or the local release tag of each selected image (team images included):
    parsed once, here."""
    if image:
        return [ImageRef.parse(image)]
    return [ImageRef(tags.local_repository(v), tags.release_tag(v))
            for v in select.variants(one_flavor=True, teams=True)]


def output(ctx: typer.Context) -> Reporter:
    """The one output channel, which main() built (a command run on its own, as in tests, gets a default one)."""
    return ctx.ensure_object(Reporter)


RegistryOpt = Annotated[Optional[str], typer.Option(
    "--registry", help="HOST[:PORT]/NAMESPACE to push to [default: the local registry, started when needed]")]


def registry_target(value: str | None, reporter: Reporter) -> RegistryTarget:
    """--registry resolved once into a RegistryTarget (reference, credentials, client); none: the local registry,
    started when needed."""
    from ..engine.daemon import Engine
    from ..registry.local import ensure_running
    from ..registry.target import RegistryTarget

    if value is None:
        engine = Engine(timeout=60)  # no daemon: fail here, before a local registry is started for nothing
        value = ensure_running(lambda: engine).target
        # stdout, beside the pinned refs it leads to: stderr stays for progress and the one error line
        reporter.result(f"publishing to the local registry {value} (imgbuild registry status)")
    elif not value.strip():
        raise ConfigError("--registry is empty: give HOST[:PORT]/NAMESPACE, or leave it out for the local registry")
    return RegistryTarget.open(value)
