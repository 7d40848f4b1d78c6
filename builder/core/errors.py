"""The errors a user can cause, one kind per exit code (cibuildwheel's errors.py is the model).

| exit | kind | e.g. |
| --- | --- | --- |
| 1 | `ImgbuildError` (anything else) | an unexpected failure; IMGBUILD_DEBUG=1 shows the traceback |
| 2 | `ConfigError` | bad matrix.yaml, bad option, a selection that matches nothing |
| 3 | `DaemonError` | no Docker daemon, or it refused a request |
| 4 | `BuildError` | a Dockerfile step failed |
| 5 | `SmokeError` | the smoke suite failed or could not run |
| 6 | `PublishError` | push, verification or immutability failed; an untested image |
| 7 | `RegistryError` | the registry is unreachable, refuses the credentials, or --registry is malformed |
| 8 | `OutputError` | a file or folder imgbuild must write cannot be written |
| 130 | interrupted | Ctrl-C |
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ImgbuildError(Exception):
    """Root of every user-facing error: the message is one line naming the cause and the fix."""

    exit_code = 1


class ConfigError(ImgbuildError):
    """Bad matrix.yaml or bad command-line options."""

    exit_code = 2


class NothingSelected(ConfigError):
    """The selection matches no variant: a configuration error of the command line (same kind, same code)."""


class DaemonError(ImgbuildError):
    """No Docker daemon, or it refused us."""

    exit_code = 3


class BuildError(ImgbuildError):
    """A Dockerfile step failed."""

    exit_code = 4


class SmokeError(ImgbuildError):
    """The smoke suite failed or could not run."""

    exit_code = 5


class PublishError(ImgbuildError):
    """Push, verification or immutability failed."""

    exit_code = 6


class OutputError(ImgbuildError):
    """A file or folder imgbuild must write cannot be written."""

    exit_code = 8


class RegistryError(ImgbuildError):
    """Unreachable registry, refused credentials, bad --registry value: one line, the cause then the fix."""

    exit_code = 7


class RegistryUnreachable(RegistryError):
    """The registry did not answer: refused, reset or timed-out connections, after the client's retries."""


class RegistryRefused(RegistryError):
    """The registry refused the credentials, or asked for some."""


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn an OS error while writing `path` into one line naming it (a read-only folder, a full disk, /proc)."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write {path} ({why}): pick a writable path or free space") from None
