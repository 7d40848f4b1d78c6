"""Where imgbuild's own files are, installed from a wheel or run from a checkout, and where it keeps its work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def claim(path: Path, mark: str) -> Path:
    """`path`, which imgbuild may write: absent, or a file it wrote before (its first KB holds `mark`). Anything else
    there is a user's, and is refused before any work starts."""
    if path.is_symlink() or path.exists() and not _holds(path, mark):
        raise ConfigError(f"{path} exists and imgbuild did not write it: move it away, or write elsewhere")
    return path


def _holds(path: Path, mark: str) -> bool:
    try:
        with open(path, "rb") as file:
            return path.is_file() and mark.encode() in file.read(1024)
    except OSError:
        return False
