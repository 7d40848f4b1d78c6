"""Where imgbuild's own files are, installed from a wheel or run from a checkout, and where it keeps its work."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError

PACKAGE = Path(__file__).resolve().parent.parent  # the imgbuild package (core/ is one of its folders)


def _shipped(name: str) -> Path:
    """A folder the wheel carries inside the package; in a checkout (editable install) it sits beside `builder/`."""
    inside = PACKAGE / name
    return inside if inside.exists() else PACKAGE.parent / name


TEMPLATES = _shipped("templates")
SMOKETESTS = _shipped("smoketests")
DEFAULT_MATRIX = PACKAGE / "matrix.yaml"
LOCKS = _shipped("locks")  # the locks resolved for the default matrix
# The work folder (build logs, tested records, release files) is relative to where imgbuild runs.
WORK_DIR = Path(".imgbuild")
LOCAL_REGISTRY_PORT = 5000  # the local registry listens on 127.0.0.1 here unless `registry start --port` says


@contextmanager
def new_folder(path: Path) -> Iterator[Path]:
    """Make `path` (and its missing parents) for the work inside; when that work fails, remove the folders made here
    that it left empty, so a failed command leaves no trace."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for made in missing:  # deepest first
            try:
                made.rmdir()
            except OSError:  # not empty, or gone: leave it
                break
        raise


def claim(path: Path, mark: str, *, whole: bool = False) -> Path:
    """`path`, which imgbuild may write: absent, or a file it wrote before (its first KB holds `mark`). A file written
    for the user to edit (a team's example tests) is claimed `whole`: only while it is `mark` and nothing else, since
    from the first edit on it is the user's, mark or not. Anything else there is a user's, and is refused before any
    work starts."""
    if not path.is_symlink() and path.exists() and not path.is_file():  # never opened: a FIFO's open blocks for ever
        raise ConfigError(f"{path} is {file_kind(path.stat().st_mode)}, not a file imgbuild wrote: remove it, or "
                          "write elsewhere")
    if path.is_symlink() or path.exists() and not holds(path, mark, whole):
        raise ConfigError(f"{path} exists and imgbuild did not write it" + (" (or it was edited since)" if whole else "")
                          + ": move it away, or write elsewhere")
    return path


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, for a message: "a FIFO", "a folder", "a device", "a socket"."""
    return ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket"
            if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")


def open_regular(path: Path) -> BinaryIO | None:
    """`path` opened for reading only when it is a regular file, else None: opened without blocking and checked
    after the open too, so a FIFO swapped in after a check can never hang the reader."""
    file, _ = _open_regular(path)
    return file


def read_regular(path: Path, limit: int, fix: str, what: str = "a file") -> bytes:
    """The bytes of `path`, read only when it is a regular file of at most `limit` bytes: every file imgbuild reads
    from a user or from an earlier run comes through here, so a FIFO, device, socket or folder (which would block,
    never end, or fail later with a traceback) and a file far beyond its kind's size end in one ConfigError line:
    the path, what it is, then `fix`. `what` names the kind of file expected ("a matrix file")."""
    try:
        file, mode = _open_regular(path)
        if file is None:
            raise ConfigError(f"{path} is {file_kind(mode)}, not {what}: {fix}")
        with file:
            size = os.fstat(file.fileno()).st_size
            data = file.read(limit + 1) if size <= limit else b""
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{path}: no such file: {fix}") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied: {fix}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__}): {fix}") from None
    if size > limit or len(data) > limit:  # the second: it grew after fstat
        size_of = f"{size:,} bytes" if size > limit else f"over {limit:,} bytes"
        raise ConfigError(f"{path} is {size_of}; {what} is at most {limit:,}: {fix}")
    return data


def _open_regular(path: Path) -> tuple[BinaryIO | None, int]:
    """The open file (None unless it is a regular one) and its mode."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:  # a socket cannot be opened at all (ENXIO): say what it is, not the errno's words
        mode = _mode(path)
        if mode is None or stat.S_ISREG(mode) or isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        return None, mode
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        return None, mode
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), mode


def _mode(path: Path) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def holds(path: Path, mark: str, whole: bool = False) -> bool:
    """`path` is a regular file whose first KB holds `mark` (is `mark` and nothing else where `whole`); read
    without blocking, so a FIFO put there is simply not imgbuild's."""
    expected = mark.encode()
    try:
        file = open_regular(path)
        if file is None:
            return False
        with file:
            return file.read(len(expected) + 1) == expected if whole else expected in file.read(1024)
    except OSError:
        return False
