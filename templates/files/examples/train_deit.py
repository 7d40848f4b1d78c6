#!/usr/bin/env python3
"""Train a DeiT vision transformer (timm) on a GPU: a starting point to copy and change.

    python train_deit.py                                   # synthetic data: checks the whole setup
    python train_deit.py --data-dir /workspace/data --epochs 10 --compile

Data: an ImageFolder (one sub-folder of images per class) at --data-dir when it has class folders,
otherwise one random batch repeated (the loss falls as the model memorises it). Weights start random;
--pretrained reads them from the local Hugging Face cache only, nothing is downloaded.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before timm imports huggingface_hub

import argparse
import sys
import time
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import datasets, transforms


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="deit_tiny_patch16_224", help="any timm model name")
    parser.add_argument("--pretrained", action="store_true", help="weights from the local HF cache (offline)")
    parser.add_argument("--data-dir", type=Path, default=Path("/workspace/data"))
    parser.add_argument("--synthetic", action="store_true", help="use random data even if --data-dir has images")
    parser.add_argument("--num-classes", type=int, default=10, help="for synthetic data")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1, help="passes over an ImageFolder")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (synthetic: 50)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cuda, cuda:1, cpu")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                        help="auto: bf16 autocast on CUDA, fp32 on CPU (bf16 is slow on most CPUs)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (first steps are slow)")
    parser.add_argument("--checkpoint-dir", type=Path, default=Path("/workspace/checkpoints"))
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        # The failure people fear most is training on the CPU without noticing: say it loudly.
        print("WARNING: CUDA is not available, training on the CPU. In a container, run it with --gpus all.",
              file=sys.stderr)
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"--device {name}: CUDA is not available (no NVIDIA driver/GPU visible; use --gpus all)")
    return device


def has_class_folders(folder: Path) -> bool:
    return folder.is_dir() and any(child.is_dir() for child in folder.iterdir())


def image_folder_loader(args: argparse.Namespace, device: torch.device) -> torch.utils.data.DataLoader:
    augment = transforms.Compose([
        transforms.RandomResizedCrop(args.img_size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ])
    dataset = datasets.ImageFolder(str(args.data_dir), transform=augment)
    return torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
    )


def synthetic_batches(args: argparse.Namespace, steps: int):
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch_size, 3, args.img_size, args.img_size, generator=generator)
    labels = torch.randint(0, args.num_classes, (args.batch_size,), generator=generator)
    for _ in range(steps):
        yield images, labels


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")

    if not args.synthetic and has_class_folders(args.data_dir):
        loader = image_folder_loader(args, device)
        num_classes, total_steps = len(loader.dataset.classes), args.epochs * len(loader)
        if args.steps is not None:
            total_steps = min(total_steps, args.steps)
        batches = (batch for _ in range(args.epochs) for batch in loader)
        print(f"data: {len(loader.dataset)} images in {num_classes} classes from {args.data_dir}")
    else:
        num_classes, total_steps = args.num_classes, args.steps or 50
        batches = synthetic_batches(args, total_steps)
        why = "--synthetic" if args.synthetic else f"no class folders in {args.data_dir}"
        print(f"data: one synthetic batch of {args.batch_size}, repeated ({why})")

    model = timm.create_model(args.model, pretrained=args.pretrained, num_classes=num_classes)
    model = model.to(device, memory_format=torch.channels_last)
    # Fused AdamW does the update in one kernel per parameter group on CUDA.
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                                  fused=device.type == "cuda")
    step_model = torch.compile(model) if args.compile else model
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"model: {args.model} on {device} ({where}), {'bf16 autocast' if bf16 else 'fp32'}"
          f"{', compiled' if args.compile else ''}; torch {torch.__version__}, timm {timm.__version__}")

    model.train()
    step, seen, started = 0, 0, time.perf_counter()
    for images, labels in batches:
        if step == total_steps:
            break
        images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(step_model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step == 1:  # the first step pays for allocation and compilation: time from here
            print(f"step 1/{total_steps} loss {loss.item():.4f} (warm-up, not timed)")
            seen, started = 0, time.perf_counter()
            continue
        seen += images.shape[0]
        if step % args.log_every == 0 or step == total_steps:
            loss_value = loss.item()  # waits for the GPU, so the rate below is real
            rate = seen / (time.perf_counter() - started)
            print(f"step {step}/{total_steps} loss {loss_value:.4f} {rate:.1f} img/s")

    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = args.checkpoint_dir / f"{args.model}-step{step}.pt"
    torch.save({
        "model": model.state_dict(),  # the uncompiled module: keys without the _orig_mod. prefix
        "optimizer": optimizer.state_dict(),
        "model_name": args.model,
        "num_classes": num_classes,
        "step": step,
    }, path)
    print(f"checkpoint: {path}")


if __name__ == "__main__":
    main()
