"""A Variant: one image to build, fully resolved from the matrix (a frozen value with a string id)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Team:
    """A team's additions (matrix.yaml `images:`), built in layers above a variant's image (see team.py)."""

    name: str  # its repository name
    pip: tuple[str, ...] = ()  # requirements, installed under constraints that pin torch & co
    apt: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    tests: Path | None = None  # the team's in-image pytest folder, resolved against the matrix file
    on: str = "pytorch"  # the repository of the variant's own image, which this one builds FROM
    variants: tuple[str, ...] = ()  # the --variant patterns it is built for

    def builds_on(self, variant_id: str) -> bool:
        return any(fnmatch.fnmatchcase(variant_id, pattern) for pattern in self.variants)


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
    # The workbench (matrix.yaml `workbench:`): OS packages the contract needs, the user's OS tools, and the
    # pinned Python tools beside torch ("tensorboard==2.21.0"), each sorted.
    system_packages: tuple[str, ...] = ()
    tool_packages: tuple[str, ...] = ()
    python_tools: tuple[str, ...] = ()
    # A team's image of this variant: `image` is then the team's name and the image builds FROM the
    # variant's own (team=None) image. Same id, same tags, another repository.
    team: Team | None = None

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

    @property
    def name(self) -> str:
        """The id, or for a team's image `<team>-<id>`: unique among the images of one run (logs, reports)."""
        return f"{self.team.name}-{self.id}" if self.team else self.id

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
