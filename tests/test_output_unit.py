"""The one output channel: results and tables on stdout, messages, progress and the error line on stderr."""

from __future__ import annotations

import io

from imgbuild.core.output import CI_WIDTH, Reporter
from rich.console import Console
from rich.table import Table


def channel(env=None) -> tuple[Reporter, io.StringIO, io.StringIO]:
    err, out = io.StringIO(), io.StringIO()
    return Reporter(Console(file=err), out=Console(file=out, width=CI_WIDTH), env=env or {}), out, err


def test_off_a_terminal_progress_is_one_plain_line_per_step():
    reporter, out, err = channel()
    with reporter.task("build 2.6.0-cpu") as update:
        update(3, 31, "RUN apt-get install -y python3")
    lines = err.getvalue().splitlines()
    assert lines[0] == "build 2.6.0-cpu" and "step 3/31: RUN apt-get install -y python3" in lines[1]
    assert "\x1b[" not in err.getvalue() and out.getvalue() == ""


def test_github_actions_folds_each_task():
    reporter, _, err = channel({"GITHUB_ACTIONS": "true", "CI": "true"})
    with reporter.task("build x"):
        pass
    assert err.getvalue().splitlines()[0] == "::group::build x" and err.getvalue().endswith("::endgroup::\n")


def test_the_error_is_one_line_however_long():
    reporter, out, err = channel()
    reporter.error("registry 127.0.0.1:5000 is not reachable (connection refused): " + "start it " * 40)
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("imgbuild: error: registry")
    assert out.getvalue() == ""


def test_results_and_tables_go_to_stdout_in_plain_ascii():
    reporter, out, err = channel()
    table = Table(title="release")
    table.add_column("variant")
    table.add_row("[green]2.6.0-cpu[/]")
    reporter.table(table)
    reporter.result("127.0.0.1:5000/team/pytorch:2.6.0-cpu@sha256:abc")
    text = out.getvalue()
    assert "+---" in text and "2.6.0-cpu" in text and "\x1b[" not in text and "┃" not in text
    assert text.endswith("127.0.0.1:5000/team/pytorch:2.6.0-cpu@sha256:abc\n") and err.getvalue() == ""
