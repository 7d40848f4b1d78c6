"""The imgbuild command line: parse options, call the stages, print. No decisions live here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from . import tags
from .choices import GpuMode, Index
from .errors import ConfigError, ImgbuildError, SmokeError, writing
from .options import BuildFlags, CudaOpt, GpuOpt, IndexOpt, SelectionOptions, TorchOpt, cli_options, images_named
from .progress import Reporter
from .variant import Variant

try:  # typer vendors click from 0.2x on; older typer uses click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Build, smoke-test and publish PyTorch GPU images from one declared matrix.")


def reporter_of(ctx: typer.Context) -> Reporter:
    """The output channel main() built (a command run on its own, as in tests, gets a default one)."""
    return ctx.ensure_object(Reporter)


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
    ctx: typer.Context, torch: TorchOpt = None, cuda: CudaOpt = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing ./matrix.yaml")] = False,
    team: Annotated[Optional[str], typer.Option("--team", help="add an example team image of this name "
                                                               "(and its tests in teams/NAME/)")] = None,
) -> None:
    """Write a starter matrix.yaml into this folder (the packaged one, or the releases --torch/--cuda name)."""
    from .starter import write_starter

    written = write_starter(Path("matrix.yaml"), torch=torch, cuda=cuda, force=force, team=team)
    reporter_of(ctx).result(f"wrote {written}: edit it, then `imgbuild matrix` lists what it builds"
                            + (f"; `imgbuild build --image {team}` builds the team's image" if team else ""))


def variant_record(v: Variant) -> dict[str, object]:
    """A variant as JSON: its fields plus the tags it would get today."""
    return {**v.summary(), "tags": tags.tags(v, tags.build_date()), "index": v.index}


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
@cli_options
def matrix_cmd(
    ctx: typer.Context, select: SelectionOptions,
    as_json: Annotated[bool, typer.Option("--json", help="print {\"variants\": [...]}")] = False,
    github: Annotated[bool, typer.Option("--github", help="print a GitHub Actions strategy.matrix")] = False,
) -> None:
    """List the selected variants (all of them by default)."""
    out, variants = reporter_of(ctx), select.variants()
    if github:
        out.data(json.dumps({"include": [github_entry(v) for v in variants]}, separators=(",", ":")))
        return
    if as_json:
        out.data(json.dumps({"variants": [variant_record(v) for v in variants]}, indent=2))
        return
    table = Table(title=f"{len(variants)} variants")
    for column in ("id", "torch", "torchvision", "cuda", "cudnn", "python", "flavor", "min driver", "tag"):
        table.add_column(column)
    for v in variants:
        table.add_row(v.id, v.torch, v.torchvision, v.cuda, v.cudnn or "-", v.python, v.flavor,
                      v.min_driver or "-", tags.release_tag(v))
    out.table(table)


@app.command("render")
@cli_options
def render_cmd(
    ctx: typer.Context, *,
    out: Annotated[Path, typer.Option("--out", help="folder for the build contexts")],
    select: SelectionOptions,
    force: Annotated[bool, typer.Option("--force", help="write into a folder that holds other files")] = False,
    base_image: Annotated[Optional[str], typer.Option("--base-image", help="replace the matrix's base image")] = None,
    unlocked: Annotated[bool, typer.Option("--unlocked", help="also render variants without a lock (for linting; "
                                           "those contexts cannot be built)")] = False,
) -> None:
    """Write one build context (Dockerfile, files, lock) per selected variant into OUT/<variant id>/."""
    from .render import render_all

    site = BuildFlags(base_image=base_image)
    variants = [site.apply(v) for v in select.variants()]
    with writing(out):
        contexts = render_all(variants, out, force=force, unlocked=unlocked)
    reporter_of(ctx).result(f"rendered {len(contexts)} build contexts into {out}")


@app.command("build")
@cli_options
def build_cmd(ctx: typer.Context, select: SelectionOptions, site: BuildFlags) -> None:
    """Render and build the selected variants (the runtime flavor unless --flavor or --variant says), each
    variant's image and then its team images (--image picks)."""
    from .build import build, check_options
    from .engine import Engine

    variants = [site.apply(v) for v in select.variants(one_flavor=True, teams=True)]
    options = site.options()
    for v in variants:
        check_options(v, options)
    engine, out = Engine(), reporter_of(ctx)
    for v in variants:
        image = build(v, engine, options, out)
        for ref in image.refs:
            out.result(str(ref))


@app.command("test")
@cli_options
def test_cmd(
    ctx: typer.Context, *,
    image: Annotated[Optional[str], typer.Argument(help="image to test [default: the selection's images]")] = None,
    select: SelectionOptions,
    gpu: GpuOpt = GpuMode.auto,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the SmokeReport JSON here")] = None,
) -> None:
    """Run the smoke suite inside each image and probe its services; non-zero exit on any failure."""
    from .engine import Engine
    from .publish import record_tested
    from .smoke import run_smoke, write_json, write_junit
    from .summary import print_smoke

    refs = images_named(image, select)
    engine, out = Engine(), reporter_of(ctx)
    failed = 0
    for ref in refs:
        report = run_smoke(engine, ref, gpu)
        record_tested(report)  # for a later `imgbuild push` run
        print_smoke(report, out)
        if junit:
            write_junit(report, junit)
        if json_out:
            write_json(report, json_out)
        failed += not report.passed
    if failed:
        raise SmokeError(f"{failed} image(s) failed the smoke test: see the table above"
                         + (f" and {junit}" if junit else ""))


@app.command("wheelhouse")
@cli_options
def wheelhouse_cmd(
    ctx: typer.Context, *,
    out: Annotated[Path, typer.Option("--out", help="folder to fill with wheels")],
    select: SelectionOptions,
    index: IndexOpt = Index.auto,
) -> None:
    """Download the selected variants' wheels into OUT, for `build --wheelhouse OUT` (offline sites); a team
    image's extras too."""
    from .build import pip_index
    from .wheelhouse import download

    variants = select.variants(teams=True)
    for v in variants:  # every variant checked before the first (large) download
        if index is Index.pypi and not v.pypi_carries:
            raise ConfigError(f"--index pypi: PyPI does not carry the {v.cuda_tag} build of torch {v.torch} "
                              f"({v.id}): use --index auto (or pytorch)")
    for v in variants:
        download(v, out, index=pip_index(v, index))
        reporter_of(ctx).result(f"{v.name}: wheels in {out}")


def _register_late_commands() -> None:
    """Commands that live in their stage's module (imported here, not at the top, to keep startup fast)."""
    from . import cli_artifacts
    from .cli_local import base_cmd, registry_app
    from .cli_release import catalog_cmd, push_cmd, release_cmd
    from .doctor import doctor_cmd

    app.command("push")(push_cmd)
    app.command("release")(release_cmd)
    app.command("catalog")(catalog_cmd)
    app.command("doctor")(doctor_cmd)
    app.add_typer(registry_app, name="registry")
    app.command("base")(base_cmd)
    __import__(f"{__package__}.cli_lock", fromlist=["register"]).register(app)  # lock, diff, plan, nightly-summary
    app.command("sbom")(cli_artifacts.sbom_cmd)
    app.command("digests")(cli_artifacts.digests_cmd)


_register_late_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure ends in one `imgbuild: error:` line and its kind's exit code."""
    out = Reporter()
    try:
        code = app(args=argv, prog_name="imgbuild", standalone_mode=False, obj=out)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help())
        sys.exit(2)
    except click_errors.UsageError as exc:  # an unknown option or value: before any work, one line
        hint = f": see `{exc.ctx.command_path} --help`" if exc.ctx else ""
        out.error(_one_line(exc.format_message()) + hint)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        out.error(_one_line(exc.format_message()))
        sys.exit(exc.exit_code)
    except typer.Abort:
        out.error("interrupted")
        sys.exit(130)
    except ImgbuildError as exc:
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        out.error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        out.error("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        out.error(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}: re-run with IMGBUILD_DEBUG=1 "
                  "and report the traceback")
        sys.exit(1)
    if code == 130:  # typer turns Ctrl-C into exit 130
        out.error("interrupted")
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    return " ".join(message.replace("Value error, ", "").split()).rstrip(".")


if __name__ == "__main__":
    main()
