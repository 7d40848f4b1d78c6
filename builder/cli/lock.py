"""`imgbuild lock`, `imgbuild wheelhouse` and `imgbuild diff`: the locked inputs of images, and what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.choices import Index
from ..core.errors import ConfigError
from .options import IndexOpt, SelectionOptions, cli_options, output


@cli_options
def lock_cmd(
    ctx: typer.Context, *, select: SelectionOptions,
    find_links: Annotated[Optional[Path], typer.Option("--find-links", help="also take wheels from this folder "
                                                       "(a wheelhouse): spares downloading torch for its metadata")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="resolve from --find-links alone, no index")] = False,
    stale_only: Annotated[bool, typer.Option("--stale-only", help="resolve only missing or stale locks")] = False,
) -> None:
    """Resolve each selected variant's whole Python package set into locks/<variant id>.txt (exact versions,
    hashes), with uv's resolver. Commit the result: builds install exactly these files."""
    from ..lock.lockfile import load_lock
    from ..lock.resolve import resolve as resolve_lock
    from ..lock.resolve import write_dir

    if offline and not find_links:
        raise ConfigError("--offline resolves from --find-links alone: pass --find-links WHEELHOUSE")
    if find_links is not None and not find_links.is_dir():  # uv would say only "No such file or directory"
        raise ConfigError(f"--find-links {str(find_links)[:200]!r} is not a folder: give the folder of wheels "
                          "(`imgbuild wheelhouse --out DIR` makes one)")
    variants = select.variants()
    # runtime first: a devel render splits its lock against its runtime sibling's
    for v in sorted(variants, key=lambda v: (v.flavor != "runtime", v.id)):
        if stale_only:
            try:
                load_lock(v)
                continue
            except ConfigError:
                pass
        lock = resolve_lock(v, write_dir(), find_links=find_links, offline=offline)
        output(ctx).result(f"{v.id}: {len(lock.pins)} packages in {lock.path}")


@cli_options
def wheelhouse_cmd(
    ctx: typer.Context, *,
    out: Annotated[Path, typer.Option("--out", help="folder to fill with wheels")],
    select: SelectionOptions,
    index: IndexOpt = Index.auto,
) -> None:
    """Download the selected variants' wheels into OUT, for `build --wheelhouse OUT` (offline sites); a team
    image's extras too."""
    from ..lock.wheelhouse import download, pip_index

    variants = select.variants(teams=True)
    for v in variants:  # every variant checked before the first (large) download
        if index is Index.pypi and not v.pypi_carries:
            raise ConfigError(f"--index pypi: PyPI does not carry the {v.cuda_tag} build of torch {v.torch} "
                              f"({v.id}): use --index auto (or pytorch)")
    for v in variants:
        download(v, out, index=pip_index(v, index))
        output(ctx).result(f"{v.name}: wheels in {out}")


def diff_cmd(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    ref_b: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
) -> None:
    """What changed from REF_A to REF_B: packages added, removed, upgraded, downgraded; base image; inputs."""
    from ..release.diff import compare, read_side

    out = output(ctx)
    diff = compare(read_side(ref_a), read_side(ref_b))
    if as_json:
        out.data(diff.to_json())
        return
    if diff.empty:
        out.result(f"no change between {ref_a} and {ref_b}")
        return
    table = Table(title=f"{ref_a} → {ref_b}")
    for column in ("change", "package", "from", "to"):
        table.add_column(column, overflow="fold")
    for row in diff.rows():
        table.add_row(*row)
    out.table(table)
