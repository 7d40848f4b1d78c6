"""Progress and summaries: one place that prints, built in the CLI (never at import time)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Reporter:
    """Live progress on a terminal; plain, foldable step lines on CI (GitHub Actions groups)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.ci = bool(os.environ.get("CI")) or not self.console.is_terminal
        self.github = bool(os.environ.get("GITHUB_ACTIONS"))

    def info(self, message: str) -> None:
        self.console.print(message, markup=False)

    @contextmanager
    def task(self, title: str) -> Iterator[Callable[[int, int, str], None]]:
        """Yields `update(step, total, text)`; prints a line per step on CI, a spinner otherwise."""
        start = time.monotonic()
        if self.github:
            print(f"::group::{title}", flush=True)
        if self.ci:
            def update(step: int, total: int, text: str) -> None:
                self.console.print(f"  [{time.monotonic() - start:6.0f}s] step {step}/{total}: {text[:110]}",
                                   markup=False)
            try:
                self.info(title)
                yield update
            finally:
                if self.github:
                    print("::endgroup::", flush=True)
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task_id = progress.add_task(title, total=None)

            def update(step: int, total: int, text: str) -> None:
                progress.update(task_id, description=f"{title}  step {step}/{total}: {text[:70]}")
            yield update
