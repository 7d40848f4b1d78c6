"""The one output channel, built in `main()` (never at import time).

Results and tables go to stdout, messages, progress and errors to stderr. On a terminal progress is a live
spinner; on CI or any non-terminal it is plain step lines (GitHub Actions groups fold them) and tables take a
fixed width. Colour follows the terminal and NO_COLOR (rich reads it). Data output (`matrix --json`,
`--github`) is written plain, outside rich, so nothing can wrap or decorate it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

CI_WIDTH = 160  # tables in CI logs: wide enough for a variant id, a tag and a detail


class Reporter:
    """Messages, progress, tables, results and the error line: every word imgbuild prints goes through here."""

    def __init__(self, console: Console | None = None, *, out: Console | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.console = console or _console(stderr=True)  # messages, progress, errors
        self.out = out or _console(stderr=False)  # results and tables
        self.ci = bool(env.get("CI")) or not self.console.is_terminal
        self.github = bool(env.get("GITHUB_ACTIONS"))

    def info(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def error(self, message: str) -> None:
        """The one line a failed command ends with: `imgbuild: error: <cause>: <fix>`."""
        line = " ".join(message.splitlines())  # a message with a newline in it still ends the run in one line
        self.console.print(f"imgbuild: error: {line}", markup=False, highlight=False, soft_wrap=True,
                           style=None)

    def result(self, text: str) -> None:
        """A line a script reads (a pushed ref, a built tag): stdout, never wrapped."""
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    def table(self, table: Table) -> None:
        if not self.out.is_terminal:  # a log keeps plain ASCII lines
            table.box = box.ASCII
        self.out.print(table)

    def data(self, text: str) -> None:
        """Machine-readable output (JSON): stdout as it is, outside rich."""
        print(text, file=self.out.file, flush=True)

    @contextmanager
    def task(self, title: str) -> Iterator[Callable[[int, int, str], None]]:
        """Yields `update(step, total, text)`; prints a line per step on CI, a spinner otherwise."""
        start = time.monotonic()
        if self.github:
            print(f"::group::{title}", file=self.console.file, flush=True)
        if self.ci:
            def update(step: int, total: int, text: str) -> None:
                self.info(f"  [{time.monotonic() - start:6.0f}s] step {step}/{total}: {text[:110]}")
            try:
                self.info(title)
                yield update
            finally:
                if self.github:
                    print("::endgroup::", file=self.console.file, flush=True)
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task_id = progress.add_task(title, total=None)

            def update(step: int, total: int, text: str) -> None:
                progress.update(task_id, description=f"{title}  step {step}/{total}: {text[:70]}")
            yield update


def _console(*, stderr: bool) -> Console:
    """A console for one stream; off a terminal (CI logs, pipes) it has a fixed width instead of 80."""
    console = Console(stderr=stderr, highlight=False, emoji=False)  # no file given: rich writes to the current sys.std*
    if console.is_terminal or os.environ.get("COLUMNS"):  # rich takes an explicit COLUMNS as the width
        return console
    return Console(stderr=stderr, highlight=False, emoji=False, width=CI_WIDTH)
