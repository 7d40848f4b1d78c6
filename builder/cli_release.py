"""`imgbuild push`, `imgbuild release` and `imgbuild catalog`: the publishing end of the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import tags
from .errors import ConfigError, ImgbuildError, PublishError
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

WORK = Path(".imgbuild")
RegistryOpt = Annotated[Optional[str], typer.Option(
    "--registry", help="HOST[:PORT]/NAMESPACE to push to [default: the local registry, started when needed]")]
AllowUntestedOpt = Annotated[bool, typer.Option("--allow-untested", help="push without a passing imgbuild test")]


def _registry(value: str | None):
    from .registry import RegistryClient, credentials_for, parse_registry

    if not value:
        value = _local_registry().target
    elif not value.strip():
        raise ConfigError("--registry is empty: give HOST[:PORT]/NAMESPACE, or leave it out for the local registry")
    ref = parse_registry(value)
    creds = credentials_for(ref.host)
    return ref, creds, RegistryClient(ref.host, creds)


def _local_registry():
    from .engine import Engine
    from .localregistry import ensure_running

    registry = ensure_running(lambda: Engine(timeout=60))
    print(f"publishing to the local registry {registry.target} (imgbuild registry status)")
    return registry


def _print_pinned(host_repo_tag_digest: list[tuple[str, str]]) -> None:
    """What a team pins: the dated tag and the digest, and how to run it."""
    if not host_repo_tag_digest:
        return
    print("\npinned:")
    for ref, digest in host_repo_tag_digest:
        print(f"  {ref}@{digest}")
    ref, digest = host_repo_tag_digest[0]
    print(f"run it:\n  docker run --gpus all --shm-size 8g -p 8888:8888 {ref.rsplit(':', 1)[0]}@{digest}")


def _local_tags(engine, ref: str) -> list[str]:
    """Every tag the image carries in its own repository (the dated one, the release tag, ...)."""
    info = engine.image(ref)
    if info is None:
        raise PublishError(f"no local image {ref}: build it first (`imgbuild build ...`)")
    repository = ref.split("@")[0].rsplit(":", 1)[0]
    return [t.rsplit(":", 1)[1] for t in info.tags if t.rsplit(":", 1)[0] == repository]


def push_cmd(
    image: Annotated[Optional[str], typer.Argument(help="image to push [default: the selection's images]")] = None,
    registry: RegistryOpt = None, matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None,
    flavor: FlavorOpt = None, python: PythonOpt = None, variant: VariantOpt = None,
    allow_untested: AllowUntestedOpt = False,
) -> None:
    """Push every tag of each tested image, verify digests through the Registry API, keep dated tags immutable."""
    from .engine import Engine
    from .preflight import check_registry
    from .progress import Reporter
    from .publish import push_image

    ref_registry, creds, client = _registry(registry)
    if image:
        refs = [image]
    else:
        _, variants = resolve(matrix, torch, cuda, flavor, python, variant, one_flavor=True)
        refs = [tags.local_ref(v) for v in variants]
    engine, reporter = Engine(), Reporter()
    check_registry(ref_registry, client)
    pinned = []
    for ref in refs:
        result = push_image(engine, ref, _local_tags(engine, ref), ref_registry, creds, client=client,
                            reporter=reporter, allow_untested=allow_untested, work_dir=WORK)
        for pushed in result.refs:
            print(f"{pushed}@{result.digest}")
        pinned.append((result.refs[0], result.digest))
    _print_pinned(pinned)


def release_cmd(
    registry: RegistryOpt = None, matrix: MatrixOpt = None, torch: TorchOpt = None, cuda: CudaOpt = None,
    flavor: FlavorOpt = None, python: PythonOpt = None, variant: VariantOpt = None,
    gpu: Annotated[str, typer.Option("--gpu", help="auto, yes or no (the smoke suite's GPU tier)")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="folder for release.json, TAGS.md, logs, JUnit")] = Path("release"),
    base_image: BaseImageOpt = None, ca_cert: CaCertOpt = None, wheelhouse: WheelhouseOpt = None,
    index: IndexOpt = "pytorch", network: NetworkOpt = "host", no_cache: NoCacheOpt = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="build even when the inputs did not change")] = False,
    max_age: Annotated[int, typer.Option("--max-age", min=0, help="rebuild unchanged images older than DAYS "
                                         "(OS security updates)", metavar="DAYS")] = 7,
) -> None:
    """Render, build, test and push each variant whose inputs changed (retag the others); one failure does not
    stop the others."""
    from .build import build, check_options
    from .engine import Engine
    from .preflight import before_release
    from .progress import Reporter
    from .publish import push_image, record_tested
    from .release import release_entry, write_release
    from .skip import after_push, check, unchanged_entry
    from .smoke import run_smoke, write_junit

    _, variants = resolve(matrix, torch, cuda, flavor, python, variant)
    options = build_options(base_image, ca_cert, wheelhouse, index, network, no_cache, work_dir=WORK)
    for v in variants:
        check_options(v, options)
    target = _registry(registry)
    engine, reporter = Engine(), Reporter()
    before_release(engine, target[0], target[2], [options.base_image or v.base_image for v in variants])
    entries, outcomes, pinned = [], [], []
    out.mkdir(parents=True, exist_ok=True)
    for v in variants:
        image = report = pushed = decision = None
        try:
            decision = check(v, engine, options, target[0], target[2], max_age=max_age, rebuild=rebuild)
            reporter.info(f"{v.id}: {decision.reason}")
            if decision.unchanged:  # nothing to build, test or upload: today's tags name the same manifest
                entries.append(unchanged_entry(v, decision, target[0], target[2], options.date))
                outcomes.append((v.id, "unchanged", entries[-1]["unchanged_since"] or ""))
                pinned.append((f"{entries[-1]['repository']}:{entries[-1]['dated_tag']}", entries[-1]["digest"]))
                continue
            image = build(v, engine, options, reporter)
            shutil.copyfile(image.log, out / image.log.name)
            report = run_smoke(engine, image.ref, gpu)
            record_tested(report, WORK)
            write_junit(report, out / f"{v.id}.junit.xml")
            if report.passed:
                pushed = push_image(engine, image.ref, [r.rsplit(":", 1)[1] for r in image.refs], target[0],
                                    target[1], client=target[2], reporter=reporter, work_dir=WORK)
            if pushed is not None:
                pinned.append((pushed.refs[0], pushed.digest))
            error = None
        except ImgbuildError as exc:
            error = str(exc)
            reporter.info(f"{v.id}: {error}")
        if image is not None:
            entries.append(release_entry(image, report, pushed, target[0], error=error))
            if decision is not None:
                after_push(decision, entries[-1], target[2])
        else:  # the build itself failed: record it, so the catalog says what is missing and why
            entries.append({"variant": v.id, "repository": f"{target[0].host}/{target[0].repository(v.image)}",
                            "tags": [], "digest": None, "status": "failed", "error": error})
        outcomes.append((v.id, entries[-1]["status"], entries[-1].get("error") or ""))
    manifest, catalog = write_release(entries, out)
    _print_outcomes(outcomes, manifest, catalog)
    _print_pinned(pinned)
    failed = sum(status == "failed" for _, status, _ in outcomes)
    if failed:
        raise PublishError(f"{failed} of {len(outcomes)} variants failed: see the table above and {manifest}")


def catalog_cmd(
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json fragments")],
    out: Annotated[Path, typer.Option("--out", help="folder for the merged release.json and TAGS.md")],
) -> None:
    """Merge the nightly's release fragments into one release.json and TAGS.md."""
    from .release import merge_releases, write_release

    entries = merge_releases(in_dir)
    manifest, catalog = write_release(entries, out)
    print(f"{len(entries)} images: {manifest}, {catalog}")


def _print_outcomes(outcomes, manifest: Path, catalog: Path) -> None:
    table = Table(title="release")
    for column in ("variant", "outcome", "detail"):
        table.add_column(column, overflow="fold")
    for variant_id, status, detail in outcomes:
        shown = {"ok": "[green]built[/]", "unchanged": "[cyan]unchanged[/]"}.get(status, "[red]failed[/]")
        table.add_row(variant_id, shown, detail[:300])
    console = Console(highlight=False)
    console.print(table)
    console.print(f"wrote {manifest} and {catalog}", markup=False)
