"""Compare the matrix's platform facts with PyPI: for each release, does PyPI carry manylinux aarch64 torch wheels,
and which CUDA build are they (uv resolves `torch==X` for aarch64-manylinux_2_28; the nvidia-cuda-runtime it pulls
in names the CUDA, none means a CPU build)? Prints one line per release and exits 1 where matrix.yaml's
`platforms: linux/arm64` disagrees with what PyPI carries.

    python scripts/check_platforms.py [--matrix matrix.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from imgbuild.matrix.load import load_matrix

SIMPLE = "https://pypi.org/simple/torch/"
RUNTIME = re.compile(r"^nvidia-cuda-runtime(?:-cu1[0-9])?==([0-9]+\.[0-9]+)", re.MULTILINE)


def aarch64_wheels() -> dict[str, set[str]]:
    """torch version -> the cp tags of its manylinux aarch64 wheels on PyPI (PEP 691 JSON)."""
    request = urllib.request.Request(SIMPLE, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)["files"]
    found: dict[str, set[str]] = {}
    for entry in files:
        match = re.match(r"torch-([0-9.]+)-(cp[0-9]+)-cp[0-9]+-manylinux.*_aarch64\.whl$", entry["filename"])
        if match:
            found.setdefault(match[1], set()).add(match[2])
    return found


def aarch64_cuda(torch: str, python: str) -> str:
    """The CUDA (X.Y) of PyPI's aarch64 torch build, or cpu."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.txt"
        source.write_text(f"torch=={torch}\n")
        done = subprocess.run([sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header",
                               "--python-version", python, "--python-platform", "aarch64-manylinux_2_28", str(source)],
                              capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"}, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"uv could not resolve torch=={torch} for aarch64: {done.stderr.strip()[-300:]}")
    found = RUNTIME.search(done.stdout)
    return found[1] if found else "cpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", type=Path, default=Path("matrix.yaml"))
    args = parser.parse_args()
    matrix, wheels = load_matrix(args.matrix), aarch64_wheels()
    wrong = 0
    for release in matrix.releases:
        listed = release.platforms.get("linux/arm64", [])
        cuda = aarch64_cuda(release.torch, release.default_python) if release.torch in wheels else None
        # Wrong: PyPI's aarch64 wheel is the release's PyPI CUDA build and the matrix leaves it out, or the matrix
        # lists that build and PyPI's aarch64 wheel is another (or none). A CPU aarch64 wheel is a note: the
        # matrix's CPU builds come from the PyTorch CPU index, not PyPI.
        ok = (cuda == release.pypi_cuda) == (release.pypi_cuda in listed)
        pypi = (f"aarch64 wheels ({', '.join(sorted(wheels[release.torch]))}) of the {cuda} build" if cuda
                else "no aarch64 wheels")
        wrong += not ok
        print(f"{'ok ' if ok else 'BAD'} torch {release.torch}: PyPI has {pypi}; matrix lists linux/arm64 "
              f"{listed or 'nothing'}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
