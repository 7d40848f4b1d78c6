"""Shared fixtures. Integration tests (marked `integration`) need a real dockerd; under CI=true they
never skip: a missing daemon, base image or wheelhouse is a failure."""

from __future__ import annotations

import pytest
from helpers import SMALL_MATRIX


@pytest.fixture(scope="session")
def matrix():
    """The small fixture matrix: unit tests test the code, not today's matrix.yaml (test_matrix_data.py does)."""
    from imgbuild.matrix.load import load_matrix

    return load_matrix(SMALL_MATRIX)
