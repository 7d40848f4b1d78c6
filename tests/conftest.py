"""Shared fixtures. Integration tests (marked `integration`) need a real dockerd; under CI=true they
never skip: a missing daemon, base image or wheelhouse is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Fail under CI, skip on a developer's machine: never a silent pass."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: integration tests never skip)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def matrix():
    from builder.matrix import load_matrix

    return load_matrix(ROOT / "matrix.yaml")
