"""`imgbuild push`, `imgbuild release`, `imgbuild catalog` and `imgbuild nightly-summary`: the publishing end."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.choices import GpuMode
from ..core.errors import ConfigError, PublishError, writing
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..host.preflight import check_registry
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
    from ..publish.push import push_local
    from ..release.indexes import join_pushed

    out = output(ctx)
    refs = images_named(image, select)
    target = registry_target(registry, out)
    # Every image of the matrix, each platform's: an image's variant says which tags it is pushed under.
    known = replace(select, platform="all", torch=None, cuda=None, flavor=None, python="all", variant=(),
                    images=()).variants()
    results = push_local(refs, Engine(), target, out, allow_untested=allow_untested, variants=known)
    for result in results:
        for pushed in result.refs:
            out.result(f"{pushed}@{result.digest}")
    joined = [i for i in join_pushed(results, known, target, out) if i.status == "ok"]
    pins = [replace(ImageRef.parse(f"{i.repository}:{i.dated_tag}"), digest=i.digest) for i in joined]
    _print_pinned(out, pins + [replace(result.refs[0], digest=result.digest) for result in results])


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
    not_locked = sum(e.outcome == "not locked" for e in outcome.entries)
    if not_locked:
        others = outcome.failed - not_locked
        raise PublishError(f"{not_locked} of {len(outcome.entries)} variants have no current lock, so nothing was "
                           f"built for them: run `{outcome.lock_commands[0]}`"
                           + (f" (and {len(outcome.lock_commands) - 1} more: see {outcome.manifest})"
                              if len(outcome.lock_commands) > 1 else "")
                           + ", review and commit the locks" + (f"; {others} failed besides" if others else ""))
    if outcome.failed:
        raise PublishError(f"{outcome.failed} of {len(outcome.entries)} variants failed: see the table above and "
                           f"{outcome.manifest}")
    if outcome.failed_indexes:
        first = outcome.failed_indexes[0]
        raise PublishError(f"every image was published, but {len(outcome.failed_indexes)} multi-platform tag set(s) "
                           f"were not written: {first.variant}: {first.error}")


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
    from ..publish.index import builds
    from ..release.indexes import join_builds
    from ..release.releasefile import record_indexes, recorded

    reporter = output(ctx)
    day = _date(date) if date is not None else tags.build_date()
    variants = replace(select, platform="all").variants(teams=True)
    if not builds(variants):
        raise ConfigError("none of the selected builds is made for more than one platform (matrix.yaml `platforms:`)"
                          ": select one that is, e.g. `imgbuild matrix --platform all`")
    # A user's release.json there, a damaged one of ours, or a folder that cannot be made: refused before any tag
    # is written (the registry's plain tags would move, and then nothing would record it).
    target = registry_target(registry, reporter) if registry else None  # a bad --registry before any folder is made
    before = recorded(out)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    target = target or registry_target(None, reporter)
    check_registry(target)
    indexes = join_builds(variants, target, day, reporter)
    manifest, _ = record_indexes(indexes, out, before)
    for index in (i for i in indexes if i.status == "ok"):
        for tag in index.tags:
            reporter.result(f"{index.repository}:{tag}@{index.digest}")
    if left := [i for i in indexes if i.status != "ok"]:
        raise PublishError(f"{len(left)} of {len(indexes)} builds have no multi-platform tags for {day}: "
                           f"{left[0].variant}: {left[0].error}" + (f" (all in {manifest})" if len(left) > 1 else ""))


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
    from ..release.manifest import write_release
    from ..release.releasefile import read_releases, with_gpu_reports

    images, indexes = read_releases(in_dir)  # every file checked before anything is written
    entries = with_gpu_reports(images, in_dir)
    manifest, catalog = write_release(entries, out, indexes)
    output(ctx).result(f"{len(entries)} images, {len(indexes)} multi-platform tag sets: {manifest}, {catalog}")


def summary_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json files (searched recursively)")],
) -> None:
    """A Markdown summary of a release (for $GITHUB_STEP_SUMMARY): built vs unchanged variants, bytes pushed."""
    from ..release.catalog import outcome_counts
    from ..release.releasefile import read_releases, with_gpu_reports

    images, indexes = read_releases(in_dir)
    entries = with_gpu_reports(images, in_dir)
    count = outcome_counts(entries)
    pushed = sum(e.push.bytes_pushed for e in entries if e.push)
    lines = [f"**{count['built']} built, {count['unchanged']} unchanged (retagged), {count['failed']} failed, "
             f"{count['not locked']} not locked; {pushed / 1e9:.2f} GB of layers pushed**", "",
             "| variant | outcome | tested on | digest | detail |", "| --- | --- | --- | --- | --- |"]
    for e in entries:
        detail = (f"since {e.unchanged_since}" if e.unchanged_since else e.error or
                  (e.changes or {}).get("summary") or e.rebuilt_because or "")
        lines.append(f"| {e.variant} | {e.outcome} | {e.tier or '-'} | `{(e.digest or '-')[:19]}` | {detail[:200]} |")
    if indexes:
        written = [i for i in indexes if i.status == "ok"]
        lines += ["", f"**Multi-platform tags: {len(written)} of {len(indexes)} builds joined**", ""]
        lines += [f"- {i.variant}: " + (f"`{i.dated_tag}` = `{(i.digest or '')[:19]}` ({', '.join(i.platforms)})"
                                        if i.status == "ok" else f"not joined: {(i.error or '')[:200]}")
                  for i in indexes]
    output(ctx).data("\n".join(lines))


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
