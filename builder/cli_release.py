"""`imgbuild push`, `imgbuild release` and `imgbuild catalog`: the publishing end of the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .choices import GpuMode
from .errors import ConfigError, ImgbuildError, PublishError, writing
from .options import BuildFlags, GpuOpt, SelectionOptions, cli_options, images_named
from .paths import WORK_DIR
from .progress import Reporter
from .reference import ImageRef

RegistryOpt = Annotated[Optional[str], typer.Option(
    "--registry", help="HOST[:PORT]/NAMESPACE to push to [default: the local registry, started when needed]")]
AllowUntestedOpt = Annotated[bool, typer.Option("--allow-untested", help="push without a passing imgbuild test")]


def registry_target(value: str | None, reporter: Reporter):
    """--registry resolved once into a RegistryTarget (reference, credentials, client); none: the local registry."""
    from .registry import RegistryTarget

    if value is None:
        value = _local_registry(reporter).target
    elif not value.strip():
        raise ConfigError("--registry is empty: give HOST[:PORT]/NAMESPACE, or leave it out for the local registry")
    return RegistryTarget.open(value)


def _local_registry(reporter: Reporter):
    from .engine import Engine
    from .localregistry import ensure_running

    registry = ensure_running(lambda: Engine(timeout=60))
    # stdout, beside the pinned refs it leads to: stderr stays for progress and the one error line
    reporter.result(f"publishing to the local registry {registry.target} (imgbuild registry status)")
    return registry


def _print_pinned(reporter: Reporter, pinned: list[tuple[ImageRef, str]]) -> None:
    """What a team pins: the dated tag and the digest (pushed or retagged tonight), and how to run it."""
    if not pinned:
        return
    reporter.result("\npinned:")
    for dated, digest in pinned:
        reporter.result(f"  {dated}@{digest}")
    dated, digest = pinned[0]
    reporter.result(f"run it:\n  docker run --gpus all --shm-size 8g -p 8888:8888 {dated.with_digest(digest)}")


def _reporter(ctx: typer.Context) -> Reporter:
    return ctx.ensure_object(Reporter)


@cli_options
def push_cmd(
    ctx: typer.Context, *,
    image: Annotated[Optional[str], typer.Argument(help="image to push [default: the selection's images]")] = None,
    registry: RegistryOpt = None, select: SelectionOptions, allow_untested: AllowUntestedOpt = False,
) -> None:
    """Push every tag of each tested image, verify digests through the Registry API, keep dated tags immutable."""
    from .engine import Engine
    from .preflight import check_registry
    from .publish import local_image, push_image, tested_record

    out = _reporter(ctx)
    refs = images_named(image, select)
    target = registry_target(registry, out)
    engine = Engine()
    check_registry(target.ref, target.client)
    pinned = []
    for ref in refs:
        local = local_image(engine, ref)
        # Another run tested it (`imgbuild test`): its persisted verdict is the gate here.
        result = push_image(engine, local, target, tested_record(local.id), reporter=out,
                            allow_untested=allow_untested)
        for pushed in result.refs:
            out.result(f"{pushed}@{result.digest}")
        pinned.append((result.refs[0], result.digest))
    _print_pinned(out, pinned)


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
    from .build import build, check_options
    from .engine import Engine
    from .preflight import before_release
    from .publish import push_image, record_tested
    from .release import release_entry, write_release
    from .skip import after_push, check, unchanged_entry
    from .smoke import run_smoke, write_junit

    reporter = _reporter(ctx)
    variants = [site.apply(v) for v in select.variants(teams=True)]
    options = site.options(WORK_DIR)
    for v in variants:
        check_options(v, options)
    target = registry_target(registry, reporter)
    engine = Engine()
    before_release(engine, target.ref, target.client, [v.base_image for v in variants])
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    entries, pinned = [], []
    for v in variants:
        image = report = pushed = error = decision = None
        try:
            # A team's image is always built: its FROM is the variant's local image, which the inputs digest of
            # its own context cannot see (the rebuild is a few layers on a cached base).
            decision = None if v.team else check(v, engine, options, target.ref, target.client, max_age=max_age,
                                                 rebuild=rebuild)
            if decision is not None:
                reporter.info(f"{v.id}: {decision.reason}")
            if decision is not None and decision.unchanged:  # nothing to build, test or upload: same manifest
                entries.append(unchanged_entry(v, decision, target.ref, target.client, options.date))
                if entries[-1].dated_tag and entries[-1].digest:
                    pinned.append((ImageRef.parse(f"{entries[-1].repository}:{entries[-1].dated_tag}"),
                                   entries[-1].digest))
                continue
            image = build(v, engine, options, reporter)
            if image.log:
                with writing(out / image.log.name):
                    shutil.copyfile(image.log, out / image.log.name)
            report = run_smoke(engine, image.ref, gpu)
            record_tested(report, WORK_DIR)  # for a later `imgbuild push` of the same image
            write_junit(report, out / f"{v.name}.junit.xml")
            if report.passed:  # the report in hand is the gate: no write-then-read inside one run
                pushed = push_image(engine, image, target, report, reporter=reporter)
                pinned.append((pushed.refs[0], pushed.digest))
        except ImgbuildError as exc:
            error = str(exc)
            reporter.info(f"{v.name}: {error}")
        entries.append(release_entry(v, target.ref, image=image, report=report, push=pushed, error=error))
        if decision is not None:
            entries[-1] = after_push(decision, entries[-1], target.client)
    manifest, catalog = write_release(entries, out)
    _print_outcomes(reporter, entries, manifest, catalog)
    _print_pinned(reporter, pinned)
    failed = sum(e.status != "ok" for e in entries)
    if failed:
        raise PublishError(f"{failed} of {len(entries)} variants failed: see the table above and {manifest}")


def catalog_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json fragments")],
    out: Annotated[Path, typer.Option("--out", help="folder for the merged release.json and TAGS.md")],
) -> None:
    """Merge the nightly's release fragments into one release.json and TAGS.md."""
    from .release import RELEASE_FILE, merge_releases, write_release

    if not in_dir.is_dir():
        raise ConfigError(f"--in {in_dir} is not a folder: pass the folder the nightly's release fragments were "
                          "downloaded into")
    entries = merge_releases(in_dir)
    if not entries:
        raise ConfigError(f"no {RELEASE_FILE} with any image under {in_dir}: pass the folder holding the "
                          "fragments `imgbuild release` wrote")
    manifest, catalog = write_release(entries, out)
    _reporter(ctx).result(f"{len(entries)} images: {manifest}, {catalog}")


def _print_outcomes(reporter: Reporter, entries, manifest: Path, catalog: Path) -> None:
    table = Table(title="release")
    for column in ("variant", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        shown = ("[red]failed[/]" if entry.status != "ok" else
                 f"[cyan]unchanged since {entry.unchanged_since}[/]" if entry.unchanged_since else "[green]built[/]")
        table.add_row(entry.variant, shown, (entry.error or "")[:300])
    reporter.table(table)
    reporter.result(f"wrote {manifest} and {catalog}")
