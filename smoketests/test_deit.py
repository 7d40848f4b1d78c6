"""A DeiT (timm) trains: a few AdamW steps on a fixed synthetic batch lower the loss. Random weights only."""
from __future__ import annotations

from typing import Dict

import pytest
import torch

# deit_tiny at 224 px: batch 8 x 3 steps is ~3 s on 2 CPU cores in fp32. bf16 autocast on CPUs without
# AVX512-BF16/AMX is emulated and ~15x slower, so the CPU step runs in fp32; the GPU step runs in bf16.
CPU_STEPS, CPU_BATCH = 3, 8
GPU_STEPS, GPU_BATCH = 20, 64


def test_deit_trains_on_cpu(timm, deit_trainer, report: Dict[str, object]) -> None:
    result = deit_trainer(timm, torch.device("cpu"), steps=CPU_STEPS, batch_size=CPU_BATCH, bf16=False)
    report["deit_cpu_img_s"] = round(result.images_per_s, 2)
    assert result.learned, f"DeiT on CPU did not learn a fixed batch: {result}"


@pytest.mark.gpu
def test_deit_trains_on_gpu_bf16(timm, deit_trainer, cuda: torch.device, report: Dict[str, object]) -> None:
    result = deit_trainer(timm, cuda, steps=GPU_STEPS, batch_size=GPU_BATCH, bf16=True)
    report["deit_gpu_img_s"] = round(result.images_per_s, 1)
    report["device_name"] = torch.cuda.get_device_name(cuda)
    assert result.learned, f"DeiT on {torch.cuda.get_device_name(cuda)} (bf16) did not learn a fixed batch: {result}"
