"""Compare the matrix's platform facts with the package index: for each release, does the index carry manylinux
aarch64 torch wheels, and which CUDA build are they? uv resolves `torch==X` for aarch64-manylinux_2_28 from the
index this machine configures for uv (as `imgbuild lock` does): no resolution means no aarch64 wheel (torch has no
sdist), the nvidia-cuda-runtime it pulls in names the CUDA, none means a CPU build. Prints one line per release and
exits 1 where matrix.yaml's `platforms: linux/arm64` disagrees.

    python scripts/check_platforms.py [--matrix matrix.yaml]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from imgbuild.matrix.load import load_matrix

RUNTIME = re.compile(r"^nvidia-cuda-runtime(?:-cu1[0-9])?==([0-9]+\.[0-9]+)", re.MULTILINE)


def aarch64_cuda(torch: str, python: str) -> str | None:
    """The CUDA (X.Y) of the index's aarch64 torch build, cpu, or None where it has no aarch64 wheel."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.txt"
        source.write_text(f"torch=={torch}\n")
        done = subprocess.run([sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header",
                               "--python-version", python, "--python-platform", "aarch64-manylinux_2_28", str(source)],
                              capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"}, timeout=600)
    if done.returncode != 0:
        if "Failed to fetch" in done.stderr:  # the index did not answer: no fact either way
            raise SystemExit(f"the package index is not reachable: {done.stderr.strip()[-300:]}")
        return None
    found = RUNTIME.search(done.stdout)
    return found[1] if found else "cpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"))
    args = parser.parse_args()
    matrix = load_matrix(args.matrix)
    wrong = 0
    for release in matrix.releases:
        listed = release.platforms.get("linux/arm64", [])
        cuda = aarch64_cuda(release.torch, release.default_python)
        # Wrong: PyPI's aarch64 wheel is the release's PyPI CUDA build and the matrix leaves it out, or the matrix
        # lists that build and PyPI's aarch64 wheel is another (or none). A CPU aarch64 wheel is a note: the
        # matrix's CPU builds come from the PyTorch CPU index, not PyPI.
        ok = (cuda == release.pypi_cuda) == (release.pypi_cuda in listed)
        found = f"aarch64 wheels of the {cuda} build" if cuda else "no aarch64 wheels"
        wrong += not ok
        print(f"{'ok ' if ok else 'BAD'} torch {release.torch}: the index has {found}; matrix lists linux/arm64 "
              f"{listed or 'nothing'}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
