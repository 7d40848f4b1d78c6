"""Command-line options shared by every command that acts on variants, resolved once into typed values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ConfigError
from .matrix import Matrix, Selection, load_matrix, select
from .paths import DEFAULT_MATRIX
from .variant import Variant

MatrixOpt = Annotated[Optional[Path], typer.Option("--matrix", readable=False,  # the loader says why it cannot read
                                                  help="matrix file [default: ./matrix.yaml]")]
TorchOpt = Annotated[Optional[str], typer.Option("--torch", help="torch minor (2.6) or release (2.6.0)")]
CudaOpt = Annotated[Optional[str], typer.Option("--cuda", help="CUDA version (12.4) or cpu")]
FlavorOpt = Annotated[Optional[str], typer.Option("--flavor", help="runtime or devel")]
PythonOpt = Annotated[Optional[str], typer.Option("--python", help="Python version, or all [default: each build's default]")]
VariantOpt = Annotated[Optional[list[str]],
                      typer.Option("--variant", help="variant id or glob, e.g. '2.6.0-cu124-*'")]


def matrix_path(given: Path | None, env: dict[str, str] | None = None) -> Path:
    """--matrix, else $IMGBUILD_MATRIX, else ./matrix.yaml, else the project's own."""
    env = os.environ if env is None else env
    if given:
        return given
    if env.get("IMGBUILD_MATRIX"):
        return Path(env["IMGBUILD_MATRIX"])
    local = Path("matrix.yaml")
    return local if local.exists() else DEFAULT_MATRIX


def resolve(matrix: Path | None, torch: str | None, cuda: str | None, flavor: str | None,
            python: str | None, variant: list[str] | None, *, one_flavor: bool = False) -> tuple[Matrix, list[Variant]]:
    """Load the matrix and select from it. `one_flavor`: with neither --flavor nor --variant, commands
    that make images act on the runtime flavor, so `build --torch 2.6 --cuda 12.4` means one image."""
    loaded = load_matrix(matrix_path(matrix))
    if one_flavor and not flavor and not variant:
        flavor = "runtime"
    selection = Selection(torch=torch, cuda=cuda, flavor=flavor, python=python, variant=tuple(variant or ()))
    return loaded, select(loaded, selection)


def build_options(base_image, ca_cert, wheelhouse, index, network, no_cache, work_dir: Path = Path(".imgbuild")):
    """The build options of `build` and `release`, checked once."""
    from .build import BuildOptions

    if index not in ("pytorch", "pypi"):
        raise ConfigError(f"--index {index}: use pytorch (the variant's PyTorch index) or pypi")
    return BuildOptions(base_image=base_image, ca_certs=tuple(ca_cert or ()), wheelhouse=wheelhouse,
                        index=index, network=network, no_cache=no_cache, work_dir=work_dir)


BaseImageOpt = Annotated[Optional[str], typer.Option("--base-image", help="replace the matrix's base image")]
CaCertOpt = Annotated[Optional[list[Path]], typer.Option("--ca-cert", help="extra CA certificate (repeatable)")]
WheelhouseOpt = Annotated[Optional[Path], typer.Option("--wheelhouse", help="take wheels from this folder first")]
IndexOpt = Annotated[str, typer.Option("--index", help="pytorch (the variant's index) or pypi")]
NetworkOpt = Annotated[str, typer.Option("--network", help="network for the build")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="build every layer anew")]
