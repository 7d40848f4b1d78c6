"""Shared fixtures. Integration tests (marked `integration`) need a real dockerd; under CI=true they
never skip: a missing daemon, base image or wheelhouse is a failure."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import SMALL_MATRIX


@pytest.fixture(scope="session")
def matrix():
    """The small fixture matrix: unit tests test the code, not today's matrix.yaml (test_matrix_data.py does)."""
    from imgbuild.matrix.load import load_matrix

    return load_matrix(SMALL_MATRIX)


@pytest.fixture
def folder(tmp_path):
    """A working folder for one hostile case, removed afterwards (its read-only folders made writable first)."""
    path = Path(tempfile.mkdtemp(prefix="imgbuild-hostile-"))
    path.chmod(0o755)
    yield path
    for entry in path.rglob("*"):
        if entry.is_dir() and not entry.is_symlink():
            entry.chmod(0o755)
    shutil.rmtree(path)
