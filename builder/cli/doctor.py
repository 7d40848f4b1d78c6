"""`imgbuild doctor`: can this host build, GPU-test and publish images? The checks are host/doctor.py's; this prints
their report, one row per link, each with its fix."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from .options import MatrixOpt, matrix_path, output

if TYPE_CHECKING:
    from ..host.checks import Check

SYMBOLS = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]![/]"}


def print_checks(checks: Sequence[Check], console: Console) -> int:
    """Print the report as a table; returns its exit code (host/doctor.py: `exit_code`)."""
    from ..host.doctor import exit_code

    table = Table(title="imgbuild doctor")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        table.add_row(check.name, SYMBOLS[check.ok], check.detail, check.fix or "-")
    console.print(table)
    failed = [c.name for c in checks if c.ok is False]
    console.print(f"[red]failed: {', '.join(failed)}[/]" if failed else "[green]ready to build[/]")
    return exit_code(checks)


def doctor_cmd(
    ctx: typer.Context,
    matrix: MatrixOpt = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", help="HOST/NAMESPACE to check the credentials and login for")] = None,
) -> None:
    """Check this host: Docker daemon, GPU pass-through, NVIDIA driver, disk space, registry login."""
    from ..engine.daemon import Engine
    from ..host.doctor import diagnose
    from ..matrix.load import host_needs

    # The matrix and the daemon are handed over unopened: a matrix or daemon that fails is a row of the report.
    report = diagnose(partial(host_needs, matrix_path(matrix)), partial(Engine, timeout=15), os.environ, registry)
    raise typer.Exit(print_checks(report.checks, output(ctx).out))
