#!/usr/bin/env python3
"""DeiT training throughput, eager and torch.compile: what a built image does on its GPU.

    python bench/deit.py                                      # deit_small, batch 256, bf16, both modes
    python bench/deit.py --device cpu --batch-size 8 --steps 3 --model deit_tiny_patch16_224

One training step = forward + backward + fused AdamW on one fixed synthetic batch (bf16 autocast,
channels_last; fp32 on CPU unless asked). Warm-up steps (allocation, cuDNN/Triton autotuning, compilation) are not timed.
Reference, H100 SXM, bare machine, deit_small_patch16_224, batch 256: eager 5305 img/s, compiled 8043 img/s.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights; nothing is downloaded

import argparse
import json
import time
from collections.abc import Callable

import timm
import torch
import torch.nn.functional as F

H100_REFERENCE = {"eager": 5305, "compiled": 8043}  # img/s, deit_small bs256 bf16, measured without imgbuild


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="deit_small_patch16_224")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 5 GPU, 1 CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="auto: bf16 autocast on CUDA, fp32 on CPU (CPUs without AMX emulate bf16, ~15x slower)")
    parser.add_argument("--mode", choices=["eager", "compiled", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object too")
    return parser.parse_args()


def training_step(args: argparse.Namespace, device: torch.device, compiled: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = timm.create_model(args.model, pretrained=False, num_classes=1000)
    model = model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    images = torch.randn(args.batch_size, 3, args.img_size, args.img_size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (args.batch_size,), device=device)
    forward = torch.compile(model) if compiled else model
    bf16 = args.precision == "bf16"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def images_per_second(step: Callable[[], None], device: torch.device, warmup: int, steps: int, batch: int) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    sync()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - started)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU, {torch.get_num_threads()} threads"


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available (no NVIDIA driver/GPU visible; use --gpus all)")
    if args.precision == "auto":
        args.precision = "bf16" if device.type == "cuda" else "fp32"
    warmup = args.warmup if args.warmup is not None else (5 if device.type == "cuda" else 1)
    modes = ["eager", "compiled"] if args.mode == "both" else [args.mode]
    print(f"device: {describe(device)}; torch {torch.__version__}, timm {timm.__version__}")
    print(f"measuring: {args.model} training step, batch {args.batch_size}, {args.img_size}px, {args.precision}"
          f"{' autocast' if args.precision == 'bf16' else ''}, channels_last, "
          f"{'fused ' if device.type == 'cuda' else ''}AdamW; {warmup} warm-up + {args.steps} timed steps")

    results: dict[str, float] = {}
    for mode in modes:
        step = training_step(args, device, compiled=mode == "compiled")
        results[mode] = images_per_second(step, device, warmup, args.steps, args.batch_size)
        print(f"{mode:>8}: {results[mode]:9.1f} img/s")
        del step
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if len(results) == 2:
        print(f" speedup: {results['compiled'] / results['eager']:.2f}x from torch.compile")
    if device.type == "cuda" and args.model == "deit_small_patch16_224" and args.batch_size == 256:
        for mode, value in results.items():  # the goal: within 5% of the bare-machine figure on the same GPU
            print(f"{mode:>8}: {100 * value / H100_REFERENCE[mode]:.1f}% of the H100 bare-machine reference "
                  f"({H100_REFERENCE[mode]} img/s; compare only on an H100)")
    if args.json:
        print(json.dumps({"device": describe(device), "model": args.model, "batch_size": args.batch_size,
                          **{f"{mode}_img_s": round(value, 1) for mode, value in results.items()}}))


if __name__ == "__main__":
    main()
