"""GPU tier: CUDA works for real inside the container (IMGBUILD_GPU=yes; skipped otherwise).

With the tier requested and no usable GPU, every test here FAILS with the diagnosis from conftest.
"""
from __future__ import annotations

from typing import Dict, List

import pytest
import torch

pytestmark = pytest.mark.gpu

MiB = 2**20


def has_kernels(major: int, minor: int, arch_list: List[str]) -> bool:
    """Whether torch carries code this GPU can run: a cubin of the same major and a minor not above it
    (sm_80 runs on sm_86, sm_100f on sm_103), an arch-specific cubin for exactly it (sm_90a), or PTX of an
    older or equal arch that the driver compiles at load time (compute_90)."""
    for arch in arch_list:
        kind, _, number = arch.partition("_")
        digits = number.rstrip("af")
        if not digits.isdigit():
            continue
        built = divmod(int(digits), 10)
        if kind == "compute" and built <= (major, minor):
            return True
        if kind == "sm" and number.endswith("a") and built == (major, minor):
            return True
        if kind == "sm" and not number.endswith("a") and built[0] == major and built[1] <= minor:
            return True
    return False


def relative_error(found: torch.Tensor, reference: torch.Tensor) -> float:
    found, reference = found.double().cpu(), reference.double().cpu()
    return ((found - reference).abs().max() / reference.abs().max()).item()


def test_cuda_device_visible(cuda: torch.device, report: Dict[str, object]) -> None:
    count = torch.cuda.device_count()
    report["gpu_count"] = count
    assert count >= 1, "torch.cuda.is_available() is True but no device is counted"


def test_device_name_and_capability(cuda: torch.device, report: Dict[str, object]) -> None:
    properties = torch.cuda.get_device_properties(cuda)
    report["device_name"] = properties.name
    report["compute_capability"] = f"{properties.major}.{properties.minor}"
    report["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
    assert properties.name and properties.total_memory > 0, f"device 0 looks empty: {properties}"


def test_build_has_kernels_for_this_gpu(cuda: torch.device) -> None:
    major, minor = torch.cuda.get_device_capability(cuda)
    arch_list = torch.cuda.get_arch_list()
    assert has_kernels(major, minor, arch_list), (
        f"this build has no kernels for sm_{major}{minor} ({torch.cuda.get_device_name(cuda)}); it carries "
        f"{arch_list}. Use a variant whose CUDA supports sm_{major}{minor} (Blackwell needs a CUDA 12.8+ variant)"
    )


@pytest.mark.parametrize(
    "dtype, tolerance",
    # fp32 may run as TF32 when a user enables it; bf16 keeps 8 mantissa bits.
    [(torch.float32, 5e-3), (torch.bfloat16, 2e-2)],
    ids=["fp32", "bf16"],
)
def test_matmul_matches_cpu(cuda: torch.device, dtype: torch.dtype, tolerance: float) -> None:
    torch.manual_seed(0)
    a, b = torch.randn(512, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
    error = relative_error(a.to(cuda) @ b.to(cuda), a.double() @ b.double())
    assert error < tolerance, f"{dtype} matmul on the GPU is off by {error:.1e} of the CPU's result (tolerance {tolerance})"


def test_cudnn_convolution_matches_cpu(cuda: torch.device) -> None:
    assert torch.backends.cudnn.is_available(), "torch cannot load cuDNN on this GPU"
    torch.manual_seed(0)
    images, weight = torch.randn(8, 16, 32, 32), torch.randn(32, 16, 3, 3)
    found = torch.nn.functional.conv2d(images.to(cuda), weight.to(cuda), padding=1)
    error = relative_error(found, torch.nn.functional.conv2d(images, weight, padding=1))
    assert error < 5e-3, f"cuDNN convolution is off by {error:.1e} of the CPU's result"


def test_memory_returns_to_baseline(cuda: torch.device) -> None:
    torch.cuda.synchronize(cuda)
    baseline = torch.cuda.memory_allocated(cuda)
    block = torch.ones(256 * MiB // 4, device=cuda)
    held = torch.cuda.memory_allocated(cuda) - baseline
    del block
    torch.cuda.synchronize(cuda)
    left = torch.cuda.memory_allocated(cuda) - baseline
    assert held >= 256 * MiB and left == 0, f"allocated {held / MiB:.0f} MiB of 256, {left / MiB:.0f} MiB left after free"


def test_every_visible_gpu_is_usable(cuda: torch.device) -> None:
    broken = {}
    for index in range(torch.cuda.device_count()):
        try:
            total = torch.ones(1024, device=f"cuda:{index}").mul(2).sum().item()
            if total != 2048:
                broken[index] = f"computed {total}, expected 2048"
        except RuntimeError as exc:
            broken[index] = str(exc).splitlines()[0]
    assert not broken, f"GPUs that fail a simple kernel: {broken}"
