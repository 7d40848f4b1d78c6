"""`imgbuild lock`, `imgbuild diff`, `imgbuild plan` and `imgbuild nightly-summary`: the locked-inputs end of the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .errors import ConfigError
from .options import SelectionOptions, cli_options


def _out(ctx: typer.Context):
    from .cli import reporter_of  # cli imports this module: import late

    return reporter_of(ctx)


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
    from .lock import load_lock, write_dir
    from .lock import resolve as resolve_lock

    if offline and not find_links:
        raise ConfigError("--offline resolves from --find-links alone: pass --find-links WHEELHOUSE")
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
        _out(ctx).result(f"{v.id}: {len(lock.pins)} packages in {lock.path}")


def diff_cmd(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    ref_b: Annotated[str, typer.Argument(help="registry image HOST/REPO:TAG, or a lock file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the diff as JSON")] = False,
) -> None:
    """What changed from REF_A to REF_B: packages added, removed, upgraded, downgraded; base image; inputs."""
    from .diff import compare, read_side

    out = _out(ctx)
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


@cli_options
def plan_cmd(
    ctx: typer.Context, *, select: SelectionOptions,
) -> None:
    """The nightly's strategy.matrix: the selected variants whose lock is current; the others are named on stderr
    with the command that locks them (the nightly never relocks: the lock-refresh pull request does)."""
    from .cli import github_entry
    from .lock import load_lock

    variants = select.variants()
    ready, unlocked = [], []
    for v in variants:
        try:
            load_lock(v)
            ready.append(v)
        except ConfigError:
            unlocked.append(v.id)
    if unlocked:
        _out(ctx).info(f"{len(unlocked)} of {len(variants)} variants have no current lock and are not planned "
                   f"(run `imgbuild lock --variant ID`): {', '.join(unlocked[:5])}"
                   f"{', ...' if len(unlocked) > 5 else ''}")
    _out(ctx).data(json.dumps({"include": [github_entry(v) for v in ready]}, separators=(",", ":")))


def summary_cmd(
    ctx: typer.Context,
    in_dir: Annotated[Path, typer.Option("--in", help="folder holding release.json files (searched recursively)")],
) -> None:
    """A Markdown summary of a release (for $GITHUB_STEP_SUMMARY): built vs unchanged variants, bytes pushed."""
    from .release import merge_releases

    entries = merge_releases(in_dir)
    unchanged = [e for e in entries if e.unchanged_since]
    built = [e for e in entries if e.published and not e.unchanged_since]
    failed = [e for e in entries if not e.published]
    pushed = sum(e.push.bytes_pushed for e in entries if e.push)
    lines = [f"**{len(built)} built, {len(unchanged)} unchanged (retagged), {len(failed)} failed; "
             f"{pushed / 1e9:.2f} GB of layers pushed**", "", "| variant | outcome | digest | detail |",
             "| --- | --- | --- | --- |"]
    for e in entries:
        outcome = "failed" if e in failed else "unchanged" if e in unchanged else "built"
        detail = (f"since {e.unchanged_since}" if e in unchanged else e.error or
                  (e.changes or {}).get("summary") or e.rebuilt_because or "")
        lines.append(f"| {e.variant} | {outcome} | `{(e.digest or '-')[:19]}` | {detail[:200]} |")
    _out(ctx).data("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("lock")(lock_cmd)
    app.command("diff")(diff_cmd)
    app.command("plan")(plan_cmd)
    app.command("nightly-summary")(summary_cmd)
