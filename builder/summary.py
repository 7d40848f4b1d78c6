"""Rich summaries printed at the end of a command."""

from __future__ import annotations

from rich.table import Table

from .progress import Reporter
from .smoke import SmokeReport

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
