"""Devel flavor: nvcc of the image's CUDA, and a CUDA extension builds against torch (runs on the GPU tier)."""
from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Optional

import pytest
import torch

from conftest import Expected

pytestmark = pytest.mark.usefixtures("devel")  # skipped with a reason in runtime images

# The kernel file includes only the CUDA runtime: parsing torch's headers through nvcc doubles the build time
# (~40 s more on 2 cores). The C++ side is a real torch extension: Tensor checks, torch/extension.h, pybind11.
CPP_SOURCE = r"""
#include <torch/extension.h>

void launch_add_one(const float* in, float* out, int64_t n);

torch::Tensor add_one(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == torch::kFloat, "add_one takes a float32 CUDA tensor");
  auto input = x.contiguous();
  auto out = torch::empty_like(input);
  launch_add_one(input.data_ptr<float>(), out.data_ptr<float>(), input.numel());
  return out;
}
"""
CUDA_SOURCE = r"""
#include <cstdint>
#include <cuda_runtime.h>

__global__ void add_one_kernel(const float* in, float* out, int64_t n) {
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i] + 1.0f;
}

void launch_add_one(const float* in, float* out, int64_t n) {
  add_one_kernel<<<(n + 255) / 256, 256>>>(in, out, n);
}
"""


def find_nvcc() -> Optional[str]:
    from torch.utils.cpp_extension import CUDA_HOME

    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), CUDA_HOME]
    candidates = [shutil.which("nvcc")] + [os.path.join(home, "bin", "nvcc") for home in homes if home]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def nvcc_release(nvcc: str) -> Optional[str]:
    """'13.0' from nvcc's 'Cuda compilation tools, release 13.0, V13.0.88'."""
    output = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    match = re.search(r"release (\d+\.\d+)", output)
    return match.group(1) if match else None


def arch_to_build() -> str:
    """One arch keeps the build short: the GPU's own, else the oldest this torch supports."""
    if torch.cuda.is_available():
        return "{}.{}".format(*torch.cuda.get_device_capability())
    sm_archs = sorted(int(arch[3:]) for arch in torch.cuda.get_arch_list() if re.fullmatch(r"sm_\d+", arch))
    return "{}.{}".format(*divmod(sm_archs[0], 10)) if sm_archs else "8.0"


@functools.lru_cache(maxsize=None)
def build_extension(build_dir: Path) -> ModuleType:
    from torch.utils.cpp_extension import load_inline

    # torch < 2.7 has no no_implicit_headers: it then prepends torch/types.h to the kernel file (slower, same result).
    light = {"no_implicit_headers": True} if "no_implicit_headers" in inspect.signature(load_inline).parameters else {}
    saved = os.environ.get("TORCH_CUDA_ARCH_LIST")
    os.environ["TORCH_CUDA_ARCH_LIST"] = saved or arch_to_build()
    try:
        return load_inline(
            name="imgbuild_smoke_add_one", cpp_sources=CPP_SOURCE, cuda_sources=CUDA_SOURCE,
            functions=["add_one"], build_directory=str(build_dir), verbose=False, **light,
        )
    finally:
        if saved is None:
            del os.environ["TORCH_CUDA_ARCH_LIST"]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cuda_extension")


def test_nvcc_matches_cuda(expected: Expected) -> None:
    nvcc = find_nvcc()
    assert nvcc, "nvcc not found on PATH, $CUDA_HOME/bin or torch's CUDA_HOME: the devel image must ship it"
    release = nvcc_release(nvcc)
    assert release == expected.cuda, f"{nvcc} is CUDA {release}, the image label promises CUDA {expected.cuda}"


def test_ninja_present() -> None:
    from torch.utils.cpp_extension import is_ninja_available

    assert is_ninja_available(), "ninja is not installed: torch.utils.cpp_extension builds need it (pip install ninja)"


def test_python_headers_present() -> None:
    header = Path(sysconfig.get_paths()["include"], "Python.h")
    assert header.is_file(), f"{header} is missing: building extensions needs the Python headers (python3-dev)"


def test_cuda_extension_builds(build_dir: Path) -> None:
    from torch.utils.cpp_extension import CUDA_HOME

    try:
        module = build_extension(build_dir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"a CUDA extension did not build with load_inline (CUDA_HOME={CUDA_HOME}): {exc}", pytrace=False)
    assert hasattr(module, "add_one"), f"the built extension has no add_one: {dir(module)}"


@pytest.mark.gpu
def test_cuda_extension_runs(build_dir: Path, cuda: torch.device) -> None:
    values = torch.arange(1000, dtype=torch.float32, device=cuda)
    result = build_extension(build_dir).add_one(values)
    assert torch.equal(result, values + 1), "the custom CUDA kernel computed a wrong result"
