"""`imgbuild lock`, `imgbuild wheelhouse` and `imgbuild diff`: the locked inputs of images, and what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..core.choices import Index
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
    from ..lock.resolve import lock_all

    for lock in lock_all(select.variants(), find_links=find_links, offline=offline, stale_only=stale_only):
        output(ctx).result(f"{lock.variant}: {len(lock.pins)} packages in {lock.path}")


@cli_options
def wheelhouse_cmd(
    ctx: typer.Context, *,
    out: Annotated[Path, typer.Option("--out", help="folder to fill with wheels")],
    select: SelectionOptions,
    index: IndexOpt = Index.auto,
) -> None:
    """Download the selected variants' wheels into OUT, for `build --wheelhouse OUT` (offline sites); a team
    image's extras too."""
    from ..lock.wheelhouse import fill

    for v in fill(select.variants(teams=True), out, index):
        output(ctx).result(f"{v.name}: wheels in {out}")


def diff_cmd(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    ref_b: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
) -> None:
    """What changed from REF_A to REF_B: packages added, removed, upgraded, downgraded; base image; inputs."""
    from ..release.diff import diff_of

    out = output(ctx)
    diff = diff_of(ref_a, ref_b)
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
