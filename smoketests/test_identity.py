"""The image is what its labels say: exact package versions, the CUDA and cuDNN torch was built with."""
from __future__ import annotations

import os
import site
import sys
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest
import torch
import torchvision

from conftest import Expected, public_version

CUDA_LIBRARY_PREFIXES = ("libcudart.so", "libcudnn.so", "libcudnn_")
SKIPPED_FOLDERS = {"include", "share", "src", "__pycache__"}  # big trees that never hold shared libraries


def cudnn_major_minor(version: int) -> Tuple[int, int]:
    """torch.backends.cudnn.version() as (major, minor): 91300 is 9.13.0 (cuDNN 9+), 8907 is 8.9.7 (cuDNN 8)."""
    if version >= 90000:
        return version // 10000, version // 100 % 100
    return version // 1000, version // 100 % 10


def library_dirs() -> List[Path]:
    """Where a CUDA library could hide: every site-packages (venv, system, user) and /usr."""
    candidates = [*site.getsitepackages(), site.getusersitepackages(), *sys.path, "/usr"]
    roots = sorted({Path(p).resolve() for p in candidates if p and os.path.isdir(p)})
    # Walk each tree once: drop a folder already inside another root (/usr/lib/python3/dist-packages).
    return [root for root in roots if not any(other in root.parents for other in roots)]


def cuda_libraries(roots: List[Path]) -> Iterator[Path]:
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
            for name in files:
                if name.startswith(CUDA_LIBRARY_PREFIXES):
                    yield Path(folder, name)


def test_torch_version(expected: Expected) -> None:
    assert public_version(torch.__version__) == expected.torch, (
        f"torch is {torch.__version__}, the image label promises {expected.torch}"
    )


def test_torchvision_version(expected: Expected) -> None:
    assert public_version(torchvision.__version__) == expected.torchvision, (
        f"torchvision is {torchvision.__version__}, the image label promises {expected.torchvision}"
    )


def test_timm_version(expected: Expected, timm) -> None:
    assert public_version(timm.__version__) == expected.timm, (
        f"timm is {timm.__version__}, the image label promises {expected.timm}"
    )


def test_torch_cuda_version(expected: Expected) -> None:
    want: Optional[str] = None if expected.cpu_build else expected.cuda
    assert torch.version.cuda == want, (
        f"torch was built for CUDA {torch.version.cuda}, the image label promises {expected.cuda}"
    )


def test_cuda_backend_built(expected: Expected) -> None:
    built = torch.backends.cuda.is_built()
    assert built is not expected.cpu_build, (
        f"torch.backends.cuda.is_built() is {built} but the image label says CUDA {expected.cuda}"
    )


def test_cudnn_version(expected: Expected) -> None:
    if expected.cpu_build:
        pytest.skip("CPU-only build: no cuDNN")
    if expected.cudnn is None:
        pytest.fail("IMGBUILD_CUDNN is not set for a CUDA image: the image has no cuDNN label", pytrace=False)
    found = torch.backends.cudnn.version()  # None when torch cannot load libcudnn
    want = tuple(int(part) for part in expected.cudnn.split(".")[:2])
    assert found is not None and cudnn_major_minor(found) == want, (
        f"torch loads cuDNN {found} (None: could not load libcudnn), the image label promises {expected.cudnn}"
    )


def test_cpu_build_has_no_cuda_libraries(expected: Expected) -> None:
    if not expected.cpu_build:
        pytest.skip(f"CUDA {expected.cuda} build: CUDA libraries belong in it")
    found = sorted(str(path) for path in cuda_libraries(library_dirs()))
    assert not found, f"CPU image carries CUDA libraries (a CUDA wheel slipped in?): {found[:5]}"
