"""The README's exit-code table and the code agree: every row is the code its kind of failure ends with, through
the one place that turns failures into exit codes (`cli/app.py: main`), and every kind of error has its row."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT
from imgbuild.cli import app as cli
from imgbuild.core import errors


def table() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Exit codes"):]
    section = section[:section.index("\n## ", 4)]
    return {int(code): kind for code, kind in re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE)}


KINDS = {error.exit_code: error for error in vars(errors).values()
         if isinstance(error, type) and issubclass(error, errors.ImgbuildError)}
ENDINGS = {0: None, **KINDS, 130: KeyboardInterrupt, 143: cli.Terminated, 8: OSError(28, "No space left on device"),
           1: RuntimeError("a bug")}


def test_every_row_is_a_kind_of_failure_and_every_kind_has_its_row():
    assert set(table()) == set(ENDINGS) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 130, 143}
    assert {e.exit_code for e in KINDS.values()} <= set(table())


@pytest.mark.parametrize("code", sorted(ENDINGS), ids=lambda c: f"exit-{c}")
def test_each_kind_ends_with_its_code_and_one_line(code, monkeypatch, capsys):
    raised = ENDINGS[code]
    if isinstance(raised, type) and issubclass(raised, errors.ImgbuildError):
        raised = raised("the cause: the fix")

    def command(**_):
        if code == 143:
            cli._terminate(15, None)
        if raised is not None:
            raise raised
        return 0

    monkeypatch.setattr(cli, "app", command)
    monkeypatch.setattr(cli, "_refuse_repeated_options", lambda argv: None)
    monkeypatch.setattr(cli, "_TERMINATED_BY", [])
    with pytest.raises(SystemExit) as ended:
        cli.main([])
    assert ended.value.code == code
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [] if code == 0 else len(said) == 1 and said[0].startswith("imgbuild: error: ")
