"""`imgbuild render`, `imgbuild build` and `imgbuild test`: build contexts, images, and their smoke tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from ..core.choices import GpuMode
from ..core.errors import ConfigError, SmokeError, writing
from ..core.output import Reporter
from ..core.paths import WORK_DIR
from .options import BuildFlags, GpuOpt, SelectionOptions, cli_options, images_named, output

if TYPE_CHECKING:
    from ..smoke.report import SmokeReport


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
    from ..render.render import render_all

    site = BuildFlags(base_image=base_image)
    variants = [site.apply(v) for v in select.variants()]
    with writing(out):
        contexts = render_all(variants, out, force=force, unlocked=unlocked)
    output(ctx).result(f"rendered {len(contexts)} build contexts into {out}")


@cli_options
def build_cmd(ctx: typer.Context, select: SelectionOptions, site: BuildFlags) -> None:
    """Render and build the selected variants (the runtime flavor unless --flavor or --variant says), each
    variant's image and then its team images (--image picks)."""
    from ..build.build import build_all
    from ..engine.daemon import Engine

    variants, options = site.resolve(select.variants(one_flavor=True, teams=True))
    out, engine = output(ctx), Engine()  # no daemon: one line now, before a lock is resolved
    for image in build_all(variants, engine, options, out):
        for ref in image.refs:
            out.result(str(ref))


@cli_options
def test_cmd(
    ctx: typer.Context, *,
    image: Annotated[Optional[str], typer.Argument(help="image to test [default: the selection's images]")] = None,
    select: SelectionOptions,
    gpu: GpuOpt = GpuMode.auto,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="write JUnit XML here; several images: one file "
                                                  "each beside it, named for its image (junit.xml -> "
                                                  "junit.pytorch-2.6.0-cpu.xml)")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the SmokeReport JSON here; several images: "
                                                     "one file each, named as --junit's are")] = None,
    mark_tested: Annotated[bool, typer.Option("--mark-tested", help="IMAGE is a pushed digest: once its GPU tier "
                                              "passed, tag it sha256-HEX.gpu-tested in its registry")] = False,
) -> None:
    """Run the smoke suite inside each image and probe its services; non-zero exit on any failure."""
    from ..engine.daemon import Engine
    from ..publish.tested import test_images_and_mark

    refs = images_named(image, select)
    if mark_tested and (not image or refs[0].digest is None or refs[0].registry is None or gpu is not GpuMode.yes):
        raise ConfigError("--mark-tested marks one pushed digest's GPU tier: pass IMAGE as HOST/NAMESPACE/IMAGE@sha256:... "
                          "and --gpu yes")
    out = output(ctx)
    reports, marked = test_images_and_mark(Engine(), refs, gpu, WORK_DIR, junit=junit, json_out=json_out,
                                           mark=mark_tested, each=lambda report: print_smoke(report, out))
    if marked:
        out.result(f"marked {marked}")
    failed = sum(not report.passed for report in reports)
    if failed:
        where = "" if not junit else f" and {junit}" if len(refs) == 1 else f" and the JUnit files beside {junit}"
        raise SmokeError(f"{failed} image(s) failed the smoke test: see the table above{where}")


MARK = {"passed": "[green]✓ passed[/]", "failed": "[red]✗ failed[/]", "skipped": "[yellow]- skipped[/]"}


def print_smoke(report: SmokeReport, reporter: Reporter) -> None:
    table = Table(title=f"smoke test of {report.image} ({'GPU and CPU' if report.gpu_tier else 'CPU'} tier)")
    table.add_column("case")
    table.add_column("result")
    table.add_column("s", justify="right")
    table.add_column("detail", overflow="fold")
    for case in report.cases:
        table.add_row(case.name, MARK[case.outcome], f"{case.seconds:.1f}", case.message[:200])
    reporter.table(table)
    counts = report.counts()
    figures = ", ".join(f"{k} {v}" for k, v in sorted(report.figures.items()))
    reporter.result(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
                    f"in {report.seconds:.0f}s" + (f"; {figures}" if figures else ""))
