"""The imgbuild command line: the app, its commands (each in the module of its group) and main(), which turns every
failure into one line and its exit code. No decisions live here."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Annotated

import typer
import typer.main

from ..core.errors import ConfigError, ImgbuildError
from ..core.output import Reporter
from . import artifacts, build, doctor, local, lock, matrix, publish
from .options import matrix_path

try:  # typer vendors click from 0.2x on; older typer uses click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Build, smoke-test and publish PyTorch GPU images from one declared matrix.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version


        print(f"imgbuild {version('imgbuild')}\nmatrix: {matrix_path(None).resolve()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="print the version and the matrix in use")] = False,
) -> None:
    """Build, smoke-test and publish PyTorch GPU images from one declared matrix."""


# Every command, in the order `imgbuild --help` lists them; a group is (its help, its commands).
COMMANDS = (
    ("init", matrix.init_cmd), ("matrix", matrix.matrix_cmd), ("render", build.render_cmd), ("build", build.build_cmd),
    ("test", build.test_cmd), ("wheelhouse", lock.wheelhouse_cmd), ("push", publish.push_cmd),
    ("release", publish.release_cmd), ("join", publish.join_cmd), ("catalog", publish.catalog_cmd),
    ("doctor", doctor.doctor_cmd),
    ("registry", (local.REGISTRY_HELP, local.REGISTRY_COMMANDS)), ("base", local.base_cmd), ("lock", lock.lock_cmd),
    ("diff", lock.diff_cmd), ("plan", matrix.plan_cmd), ("nightly-summary", publish.summary_cmd),
    ("sbom", artifacts.sbom_cmd), ("digests", artifacts.digests_cmd), ("reproduce", artifacts.reproduce_cmd),
)


def register(typer_app: typer.Typer, commands: tuple) -> None:
    """The one way a command joins the command line."""
    for name, command in commands:
        if isinstance(command, tuple):
            group = typer.Typer(no_args_is_help=True, help=command[0])
            register(group, command[1])
            typer_app.add_typer(group, name=name)
        else:
            typer_app.command(name)(command)


register(app, COMMANDS)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `docker stop`, `kill`), raised where the work is, as Ctrl-C is: every `finally`
    and every cleanup on the way out runs, so nothing half-written is left."""


TERMINATED = "terminated (SIGTERM): what it had begun was undone; re-run the same command"


_TERMINATED_BY: list[int] = []  # the signal that ended the run, once one did


def _terminate(signum: int, frame: object) -> None:
    _TERMINATED_BY.append(signum)
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Run the command line; every failure ends in one `imgbuild: error:` line and its kind's exit code."""
    out = Reporter()
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        _refuse_repeated_options(sys.argv[1:] if argv is None else argv)
        code = app(args=argv, prog_name="imgbuild", standalone_mode=False, obj=out)
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help())
        sys.exit(2)
    except click_errors.UsageError as exc:  # an unknown option or value: before any work, one line
        hint = f": see `{exc.ctx.command_path} --help`" if exc.ctx else ""
        out.error(_one_line(exc.format_message()) + hint)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        out.error(_one_line(exc.format_message()))
        sys.exit(exc.exit_code)
    except typer.Abort:
        out.error("interrupted")
        sys.exit(130)
    except ImgbuildError as exc:
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        out.error(str(exc))
        sys.exit(exc.exit_code)
    except Terminated:
        out.error(TERMINATED)
        sys.exit(143)
    except KeyboardInterrupt:
        out.error("interrupted")
        sys.exit(130)
    except OSError as exc:  # the machine refused: a full disk, a closed pipe, a file that cannot be written
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        where = f" {exc.filename}" if exc.filename else " the output"
        _last_words(out, f"cannot write{where} ({exc.strerror or type(exc).__name__}): free space, or send the "
                         "output elsewhere")
        sys.exit(8)
    except UnicodeEncodeError as exc:  # a terminal or pipe that takes ASCII only
        _last_words(out, f"the output cannot be written in {exc.encoding}: set PYTHONIOENCODING=utf-8 "
                         "(or a UTF-8 locale)")
        sys.exit(8)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("IMGBUILD_DEBUG"):
            raise
        out.error(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}: re-run with IMGBUILD_DEBUG=1 "
                  "and report the traceback")
        sys.exit(1)
    if code == 130 and _TERMINATED_BY:  # typer turns Ctrl-C, and so our SIGTERM, into exit 130
        out.error(TERMINATED)
        sys.exit(143)
    if code == 130:
        out.error("interrupted")
    sys.exit(code if isinstance(code, int) else 0)


def _refuse_repeated_options(argv: list[str]) -> None:
    """An option that takes one value, given twice (`--python 3.11 --python 3.12`), is refused: click would keep the
    last one silently."""
    command = typer.main.get_command(app)
    words = list(argv)
    while words and words[0] in getattr(command, "commands", {}):  # a group: its subcommand's options
        command = command.commands[words.pop(0)]
    single = {name: option for option in command.params if option.param_type_name == "option"
              and not option.multiple and not getattr(option, "count", False) for name in option.opts}
    seen: dict[str, str] = {}
    for i, word in enumerate(words):
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if name in single:
            first = single[name].opts[0]
            given = word if "=" in word or single[name].is_flag else " ".join(words[i:i + 2])
            if first in seen:
                raise ConfigError(f"{first} is given twice ({seen[first]!r}, then {given!r}): give it once")
            seen[first] = given


def _last_words(out: Reporter, message: str) -> None:
    """The error line, even where the output channel itself is what failed."""
    try:
        out.error(message)
    except (OSError, UnicodeEncodeError):
        os.write(2, f"imgbuild: error: {message}\n".encode("ascii", "replace"))


def _one_line(message: str) -> str:
    return " ".join(message.replace("Value error, ", "").split()).rstrip(".")


if __name__ == "__main__":
    main()
