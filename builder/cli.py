"""The imgbuild command line: parse options, call the stages, print. No decisions live here."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import tags
from .errors import ConfigError, ImgbuildError, SmokeError
from .options import (
    BaseImageOpt,
    CaCertOpt,
    CudaOpt,
    FlavorOpt,
    IndexOpt,
    MatrixOpt,
    NetworkOpt,
    NoCacheOpt,
    PythonOpt,
    TorchOpt,
    VariantOpt,
    WheelhouseOpt,
    build_options,
    resolve,
)
from .render import render_all
from .variant import Variant

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Build, smoke-test and publish PyTorch GPU images from one declared matrix.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        from .options import matrix_path

        print(f"imgbuild {version('imgbuild')}\nmatrix: {matrix_path(None).resolve()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="print the version and the matrix in use")] = False,
) -> None:
    """Build, smoke-test and publish PyTorch GPU images from one declared matrix."""


@app.command("init")
def init_cmd(
    torch: TorchOpt = None, cuda: CudaOpt = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing ./matrix.yaml")] = False,
) -> None:
    """Write a starter matrix.yaml into this folder (the packaged one, or the releases --torch/--cuda name)."""
    from .starter import write_starter

    written = write_starter(Path("matrix.yaml"), torch=torch, cuda=cuda, force=force)
    print(f"wrote {written}: edit it, then `imgbuild matrix` lists what it builds")


def _console() -> Console:
    """Tables stay readable in CI logs, where there is no terminal to take the width from."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


def variant_record(v: Variant) -> dict[str, object]:
    """A variant as JSON: its fields plus the tags it would get today."""
    return {**v.summary(), "tags": tags.tags(v, dt.date.today()), "index": v.index}


def github_entry(v: Variant) -> dict[str, object]:
    """One job of the nightly's strategy.matrix; `gpu` picks the runner (self-hosted `gpu` or ubuntu-latest)."""
    return {
        "variant": v.id,
        "torch": v.torch,
        "cuda": v.cuda,
        "flavor": v.flavor,
        "python": v.python,
        "gpu": "no" if v.is_cpu else "yes",
    }


@app.command("matrix")
def matrix_cmd(
    matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None, flavor: FlavorOpt = None,
    python: PythonOpt = None, variant: VariantOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print {\"variants\": [...]}")] = False,
    github: Annotated[bool, typer.Option("--github", help="print a GitHub Actions strategy.matrix")] = False,
) -> None:
    """List the selected variants (all of them by default)."""
    _, variants = resolve(matrix, torch, cuda, flavor, python, variant)
    if github:
        print(json.dumps({"include": [github_entry(v) for v in variants]}, separators=(",", ":")))
        return
    if as_json:
        print(json.dumps({"variants": [variant_record(v) for v in variants]}, indent=2))
        return
    table = Table(title=f"{len(variants)} variants")
    for column in ("id", "torch", "torchvision", "cuda", "cudnn", "python", "flavor", "min driver", "tag"):
        table.add_column(column)
    for v in variants:
        table.add_row(v.id, v.torch, v.torchvision, v.cuda, v.cudnn or "-", v.python, v.flavor,
                      v.min_driver or "-", tags.release_tag(v))
    _console().print(table)


@app.command("render")
def render_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder for the build contexts")],
    matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None, flavor: FlavorOpt = None,
    python: PythonOpt = None, variant: VariantOpt = None,
    force: Annotated[bool, typer.Option("--force", help="write into a folder that holds other files")] = False,
    base_image: Annotated[Optional[str], typer.Option("--base-image", help="replace the matrix's base image")] = None,
) -> None:
    """Write one build context (Dockerfile and files) per selected variant into OUT/<variant id>/."""
    _, variants = resolve(matrix, torch, cuda, flavor, python, variant)
    contexts = render_all(variants, out, force=force, base_image=base_image)
    print(f"rendered {len(contexts)} build contexts into {out}")


@app.command("build")
def build_cmd(
    matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None, flavor: FlavorOpt = None,
    python: PythonOpt = None, variant: VariantOpt = None, base_image: BaseImageOpt = None,
    ca_cert: CaCertOpt = None, wheelhouse: WheelhouseOpt = None, index: IndexOpt = "pytorch",
    network: NetworkOpt = "host", no_cache: NoCacheOpt = False,
) -> None:
    """Render and build the selected variants (the runtime flavor unless --flavor or --variant says)."""
    from .build import build, check_options
    from .engine import Engine
    from .progress import Reporter

    _, variants = resolve(matrix, torch, cuda, flavor, python, variant, one_flavor=True)
    options = build_options(base_image, ca_cert, wheelhouse, index, network, no_cache)
    for v in variants:
        check_options(v, options)
    engine = Engine()
    reporter = Reporter()
    for v in variants:
        image = build(v, engine, options, reporter)
        print("\n".join(image.refs))


GpuOpt = Annotated[str, typer.Option("--gpu", help="auto: the GPU tier where the host has a GPU; yes; no")]


def _images_for(image: str | None, matrix, torch, cuda, flavor, python, variant) -> list[str]:
    """An explicit IMAGE, or the local release tag of each selected variant."""
    if image:
        return [image]
    _, variants = resolve(matrix, torch, cuda, flavor, python, variant, one_flavor=True)
    return [tags.local_ref(v) for v in variants]


@app.command("test")
def test_cmd(
    image: Annotated[Optional[str], typer.Argument(help="image to test [default: the selection's images]")] = None,
    matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None, flavor: FlavorOpt = None,
    python: PythonOpt = None, variant: VariantOpt = None, gpu: GpuOpt = "auto",
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the SmokeReport JSON here")] = None,
) -> None:
    """Run the smoke suite inside each image and probe its services; non-zero exit on any failure."""
    from .engine import Engine
    from .publish import record_tested
    from .smoke import run_smoke, write_junit
    from .summary import print_smoke

    engine = Engine()
    failed = 0
    for ref in _images_for(image, matrix, torch, cuda, flavor, python, variant):
        report = run_smoke(engine, ref, gpu)
        record_tested(report, Path(".imgbuild"))
        print_smoke(report, _console())
        if junit:
            write_junit(report, junit)
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(report.to_json())
        failed += not report.passed
    if failed:
        raise SmokeError(f"{failed} image(s) failed the smoke test: see the table above"
                         + (f" and {junit}" if junit else ""))


@app.command("wheelhouse")
def wheelhouse_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder to fill with wheels")],
    matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None, flavor: FlavorOpt = None,
    python: PythonOpt = None, variant: VariantOpt = None, index: IndexOpt = "pypi",
) -> None:
    """Download the selected variants' wheels into OUT, for `build --wheelhouse OUT` (offline sites)."""
    from .wheelhouse import download

    _, variants = resolve(matrix, torch, cuda, flavor, python, variant)
    for v in variants:
        if index == "pypi" and not v.pypi_carries:
            raise ConfigError(f"PyPI does not carry the {v.cuda_tag} build of torch {v.torch} ({v.id}): "
                              "pass --index pytorch")
        download(v, out, index=v.index if index == "pytorch" else None)
        print(f"{v.id}: wheels in {out}")


def _register_late_commands() -> None:
    """Commands that live in their stage's module (imported here, not at the top, to keep startup fast)."""
    from . import cli_artifacts
    from .cli_release import catalog_cmd, push_cmd, release_cmd
    from .doctor import doctor_cmd

    app.command("push")(push_cmd)
    app.command("release")(release_cmd)
    app.command("catalog")(catalog_cmd)
    app.command("doctor")(doctor_cmd)
    app.command("sbom")(cli_artifacts.sbom_cmd)
    app.command("digests")(cli_artifacts.digests_cmd)


_register_late_commands()


def main() -> None:
    try:
        app()
    except ImgbuildError as exc:
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        print(f"imgbuild: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("imgbuild: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
