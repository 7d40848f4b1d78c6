"""torch.compile works: Inductor generates and builds C++ on CPU (needs g++) and Triton kernels on GPU."""
from __future__ import annotations

import os
import shutil
from typing import Dict

import pytest
import torch


def test_cpp_compiler_present() -> None:
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    assert compiler, "no C++ compiler (g++) in the image: torch.compile's Inductor CPU backend needs one"


def test_compile_small_model_on_cpu() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 10)).eval()
    inputs = torch.randn(16, 64)
    with torch.no_grad():
        eager, compiled = model(inputs), torch.compile(model)(inputs)
    error = (eager - compiled).abs().max().item()
    assert error < 1e-4, f"torch.compile on CPU differs from eager by {error:.1e}"


@pytest.mark.gpu
def test_compiled_deit_trains_on_gpu(timm, deit_trainer, cuda: torch.device, report: Dict[str, object]) -> None:
    result = deit_trainer(timm, cuda, steps=20, batch_size=64, bf16=True, compile=True)
    report["deit_gpu_compiled_img_s"] = round(result.images_per_s, 1)
    assert result.learned, f"compiled DeiT on {torch.cuda.get_device_name(cuda)} did not learn a fixed batch: {result}"
