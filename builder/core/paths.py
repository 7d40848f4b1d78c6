"""Where imgbuild's own files are, installed from a wheel or run from a checkout, and where it keeps its work."""

from __future__ import annotations

from pathlib import Path

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
