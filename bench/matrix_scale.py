"""Benchmark: load and expand a generated matrix of many releases (default 9,000): both must stay linear.

Prints the file's size, its values, the variants, the seconds to load (read + validate + check) and to expand,
and the process's peak memory. tests/test_matrix_scale.py runs the same load with a generous time limit.

    python bench/matrix_scale.py [RELEASES]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEAD = """\
defaults:
  image: pytorch
  base_image: ubuntu:24.04
  jupyterlab: "4.5.11"
  timm: "1.0.30"
  flavors: [runtime, devel]
cuda:
  "12.4": {min_driver: "525.60.13", index: "https://download.pytorch.org/whl/cu124", nvcc: nvidia-cuda-nvcc-cu12}
  "12.6": {min_driver: "525.60.13", index: "https://download.pytorch.org/whl/cu126", nvcc: nvidia-cuda-nvcc-cu12}
  "13.0": {min_driver: "580.65.06", index: "https://download.pytorch.org/whl/cu130", nvcc: nvidia-cuda-nvcc}
cpu_index: https://download.pytorch.org/whl/cpu
requires_python: {"jupyterlab==4.5.11": ">=3.9", "timm==1.0.30": ">=3.8", "torchvision==0.21.0": ">=3.9"}
releases:
"""
RELEASE = """\
  - torch: "{torch}"
    torchvision: "0.21.0"
    pythons: ["3.11", "3.12", "3.13"]
    default_python: "3.12"
    extra_pythons: ["3.13"]
    pypi_cuda: "12.6"
    default_cuda: "12.6"
    cuda:
      "12.6": {{cudnn: "9.5.1.17"}}
      "13.0": {{cudnn: "9.24.0.43"}}
    cpu: true
"""
VARIANTS_PER_RELEASE = 10  # 2 CUDA x 2 flavors + CPU runtime, each at its default Python and 3.13


def generated_matrix(releases: int) -> str:
    """A matrix of `releases` distinct torch releases, in the shipped matrix's block style."""
    return HEAD + "".join(RELEASE.format(torch=f"{2 + i // 1000}.{i % 1000}.0") for i in range(releases))


def main() -> None:
    from imgbuild.matrix.load import load_matrix

    releases = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.yaml"
        path.write_text(generated_matrix(releases), encoding="utf-8")
        size = path.stat().st_size
        t0 = time.perf_counter()
        matrix = load_matrix(path)
        t1 = time.perf_counter()
        variants = matrix.expand()
        t2 = time.perf_counter()
    assert len(variants) == releases * VARIANTS_PER_RELEASE
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"releases:      {releases:,}")
    print(f"file:          {size / 1e6:.1f} MB")
    print(f"variants:      {len(variants):,}")
    print(f"load:          {t1 - t0:.2f} s  (read, validate, check)")
    print(f"expand:        {t2 - t1:.2f} s")
    print(f"peak memory:   {peak:.0f} MB  (the whole process)")


if __name__ == "__main__":
    main()
