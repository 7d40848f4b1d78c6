"""Command-line options shared by every command that acts on variants, resolved once into typed values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .matrix import Matrix, Selection, load_matrix, select
from .variant import Variant

PROJECT_MATRIX = Path(__file__).resolve().parent.parent / "matrix.yaml"

MatrixOpt = Annotated[Optional[Path], typer.Option("--matrix", help="matrix file [default: ./matrix.yaml]")]
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
    return local if local.exists() else PROJECT_MATRIX


def resolve(matrix: Path | None, torch: str | None, cuda: str | None, flavor: str | None,
            python: str | None, variant: list[str] | None, *, one_flavor: bool = False) -> tuple[Matrix, list[Variant]]:
    """Load the matrix and select from it. `one_flavor`: with neither --flavor nor --variant, commands
    that make images act on the runtime flavor, so `build --torch 2.6 --cuda 12.4` means one image."""
    loaded = load_matrix(matrix_path(matrix))
    if one_flavor and not flavor and not variant:
        flavor = "runtime"
    selection = Selection(torch=torch, cuda=cuda, flavor=flavor, python=python, variant=tuple(variant or ()))
    return loaded, select(loaded, selection)
