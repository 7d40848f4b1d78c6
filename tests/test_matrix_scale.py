"""Loading and expanding stay linear: a generated 9,000-release matrix loads and expands within a generous limit.

bench/matrix_scale.py measures it (2.3 s for load + expand on a busy 2-core VM, 95 MB); the limit here is ~25x that,
so only a quadratic slip (minutes at this size) fails, never a busy machine. The limit is a subprocess timeout,
not an assert on the clock."""

import subprocess
import sys

import pytest
from helpers import ROOT

LIMIT_S = 60


@pytest.mark.slow
def test_a_9000_release_matrix_loads_and_expands_within_a_generous_limit():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "matrix_scale.py"), "9000"],
                            capture_output=True, text=True, timeout=LIMIT_S)
    assert result.returncode == 0, result.stderr
    assert "variants:      90,000" in result.stdout
