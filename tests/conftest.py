"""Shared fixtures. Integration tests (marked `integration`) need a real dockerd; under CI=true they
never skip: a missing daemon, base image or wheelhouse is a failure."""

from __future__ import annotations

import pytest
from helpers import ROOT


@pytest.fixture(scope="session")
def matrix():
    from imgbuild.matrix import load_matrix

    return load_matrix(ROOT / "matrix.yaml")
