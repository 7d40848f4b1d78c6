"""A Variant: one image to build, fully resolved from the matrix (a frozen value with a string id)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    torch: str
    torchvision: str
    timm: str
    jupyterlab: str
    cuda: str  # "12.4", or "cpu"
    cudnn: str | None  # full version the build pins, e.g. "9.1.0.70"; None for CPU
    python: str
    flavor: str  # "runtime" | "devel"
    min_driver: str | None  # minimum NVIDIA driver; None for CPU
    base_image: str
    image: str  # repository name, e.g. "pytorch"
    index: str  # the PyTorch wheel index for this CUDA (or CPU)
    nvcc_package: str | None  # pip package that provides nvcc (devel flavor)
    pypi_carries: bool  # PyPI's torch wheel for this release is this CUDA build
    default_python: bool  # this is the (torch, CUDA, flavor)'s default Python
    default_cuda: bool  # this CUDA is the release's default (floating tags point here)
    newest: bool  # this release is the newest in the matrix (gets `latest`)

    @property
    def is_cpu(self) -> bool:
        return self.cuda == "cpu"

    @property
    def cuda_tag(self) -> str:
        """cu124 / cpu: the PyTorch index's spelling."""
        return "cpu" if self.is_cpu else "cu" + self.cuda.replace(".", "")

    @property
    def cudnn_major(self) -> str | None:
        return self.cudnn.split(".")[0] if self.cudnn else None

    @property
    def torch_minor(self) -> str:
        return ".".join(self.torch.split(".")[:2])

    @property
    def id(self) -> str:
        """cibuildwheel-style build identifier: 2.6.0-cu124-py3.11-runtime."""
        return f"{self.torch}-{self.cuda_tag}-py{self.python}-{self.flavor}"

    def summary(self) -> dict[str, object]:
        """The plain fields a person or a CI job reads (JSON output, labels)."""
        return {
            "id": self.id,
            "torch": self.torch,
            "torchvision": self.torchvision,
            "timm": self.timm,
            "cuda": self.cuda,
            "cudnn": self.cudnn,
            "python": self.python,
            "flavor": self.flavor,
            "min_driver": self.min_driver,
            "base_image": self.base_image,
        }
