"""`imgbuild push`, `imgbuild release`, `imgbuild catalog` and `imgbuild nightly-summary`: the publishing end."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.choices import GpuMode
from ..core.errors import ConfigError
from ..core.output import Reporter
from ..core.reference import ImageRef
from .options import BuildFlags, GpuOpt, RegistryOpt, SelectionOptions, cli_options, images_named, output, registry_target

AllowUntestedOpt = Annotated[bool, typer.Option("--allow-untested", help="push without a passing imgbuild test")]


@cli_options
def push_cmd(
    ctx: typer.Context, *,
    image: Annotated[Optional[str], typer.Argument(help="image to push [default: the selection's images]")] = None,
    registry: RegistryOpt = None, select: SelectionOptions, allow_untested: AllowUntestedOpt = False,
) -> None:
    """Push every tag of each tested image, verify digests through the Registry API, keep dated tags immutable."""
    from ..engine.daemon import Engine
    from ..release.join import push_and_join

    out = output(ctx)
    refs = images_named(image, select)
    target = registry_target(registry, out)
    # Every image of the matrix, each platform's: an image's variant says which tags it is pushed under.
    known = replace(select, platform="all", torch=None, cuda=None, flavor=None, python="all", variant=(),
                    images=()).variants()
    pushed = push_and_join(refs, Engine(), target, out, allow_untested=allow_untested, variants=known)
    for result in pushed.results:
        for ref in result.refs:
            out.result(f"{ref}@{result.digest}")
    _print_pinned(out, list(pushed.pinned))


@cli_options
def release_cmd(
    ctx: typer.Context, *,
    registry: RegistryOpt = None, select: SelectionOptions, gpu: GpuOpt = GpuMode.auto,
    out: Annotated[Path, typer.Option("--out", help="folder for release.json, TAGS.md, logs, JUnit")] = Path("release"),
    site: BuildFlags,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="build even when the inputs did not change")] = False,
    max_age: Annotated[int, typer.Option("--max-age", min=0, help="rebuild unchanged images older than DAYS "
                                         "(OS security updates)", metavar="DAYS")] = 7,
) -> None:
    """Render, build, test and push each variant's image and its team images whose inputs changed (retag the
    others); one failure does not stop the others."""
    from ..engine.daemon import Engine
    from ..release.pipeline import ReleasePlan, release

    reporter = output(ctx)
    variants, options = site.resolve(select.variants(teams=True))
    plan = ReleasePlan(variants=tuple(variants), target=registry_target(registry, reporter), options=options, gpu=gpu,
                       out=out, rebuild=rebuild, max_age=max_age)
    outcome = release(plan, Engine(), reporter)
    _print_outcomes(reporter, outcome.entries, outcome.manifest, outcome.catalog)
    _print_pinned(reporter, outcome.pinned)
    outcome.check()


@cli_options
def join_cmd(
    ctx: typer.Context, *,
    registry: RegistryOpt = None, select: SelectionOptions,
    date: Annotated[Optional[str], typer.Option("--date", metavar="YYYY-MM-DD", help="the release date whose images "
                                                "to join [default: today, or $SOURCE_DATE_EPOCH's]")] = None,
    out: Annotated[Path, typer.Option("--out", help="folder whose release.json and TAGS.md record the indexes")]
    = Path("release"),
) -> None:
    """Write the plain tags of each selected multi-platform build: one OCI index of every platform's image, once
    each platform's image is published and tested (the nightly's last step)."""
    from ..core import tags
    from ..release.join import join_release

    reporter = output(ctx)
    day = _date(date) if date is not None else tags.build_date()
    variants = replace(select, platform="all").variants(teams=True)
    joined = join_release(variants, day, out, registry, lambda value: registry_target(value, reporter), reporter)
    for index in joined.written:
        for tag in index.tags:
            reporter.result(f"{index.repository}:{tag}@{index.digest}")
    joined.check()


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"--date {value[:40]!r} is not a date: give YYYY-MM-DD, e.g. 2026-12-04") from None


def catalog_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json fragments")],
    out: Annotated[Path, typer.Option("--out", help="folder for the merged release.json and TAGS.md")],
) -> None:
    """Merge the nightly's release fragments (and the GPU runners' reports) into one release.json and TAGS.md."""
    from ..release.summary import merge_fragments

    merged = merge_fragments(in_dir, out)
    output(ctx).result(f"{merged.images} images, {merged.indexes} multi-platform tag sets: {merged.manifest}, "
                       f"{merged.catalog}")


def summary_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json files (searched recursively)")],
) -> None:
    """A Markdown summary of a release (for $GITHUB_STEP_SUMMARY): built vs unchanged variants, bytes pushed."""
    from ..release.summary import summary_markdown

    output(ctx).data(summary_markdown(in_dir))


def _print_pinned(reporter: Reporter, pinned: list[ImageRef]) -> None:
    """What a team pins: the dated tag at its digest (pushed or retagged tonight), and how to run it."""
    if not pinned:
        return
    reporter.result("\npinned:")
    for ref in pinned:
        reporter.result(f"  {ref}")
    first = pinned[0]
    reporter.result(f"run it:\n  docker run --gpus all --shm-size 8g -p 8888:8888 {first.with_digest(first.digest or '')}")


def _print_outcomes(reporter: Reporter, entries, manifest: Path, catalog: Path) -> None:
    table = Table(title="release")
    for column in ("variant", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        shown = {"failed": "[red]failed[/]", "not locked": "[red]not locked[/]", "built": "[green]built[/]",
                 "unchanged": f"[cyan]unchanged since {entry.unchanged_since}[/]"}[entry.outcome]
        table.add_row(entry.variant, shown, (entry.error or "")[:300])
    reporter.table(table)
    reporter.result(f"wrote {manifest} and {catalog}")
