"""Benchmark: time to load matrix.yaml and render the whole matrix (goal: under 0.5 s, imports excluded)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

start = time.perf_counter()
from imgbuild.matrix.load import load_matrix
from imgbuild.render.render import render_all

imports = time.perf_counter() - start


def once(out: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    matrix = load_matrix(ROOT / "matrix.yaml")
    variants = matrix.expand()
    t1 = time.perf_counter()
    render_all(variants, out, unlocked=True)  # most variants have no lock yet: same shape, same cost
    return t1 - t0, time.perf_counter() - t1, len(variants)


def main() -> None:
    # --dir /dev/shm measures imgbuild's own cost; the default (a temp folder on disk) adds the filesystem's,
    # which on a busy VM disk varies several-fold from run to run.
    where = sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else None
    runs = []
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        for i in range(5):
            runs.append(once(Path(tmp) / f"run{i}"))
    load = statistics.median(r[0] for r in runs)
    render = statistics.median(r[1] for r in runs)
    print(f"output folder:       {where or tempfile.gettempdir()}")
    print(f"variants:            {runs[0][2]}")
    print(f"imports (once):      {imports:.3f} s")
    print(f"load + expand:       {load:.3f} s (median of 5)")
    print(f"render all contexts: {render:.3f} s (median of 5)")
    print(f"load + render:       {load + render:.3f} s (goal < 0.5 s)")


if __name__ == "__main__":
    main()
