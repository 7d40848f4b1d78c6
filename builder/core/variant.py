"""A Variant: one image to build, fully resolved from the matrix (a frozen value with a string id), and its kind:
the variant's own image or a team's image on top of it."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from .platform import DEFAULT_PLATFORM, PLATFORMS, platform


class ImageKind(Protocol):
    """What the stages ask of a kind of image. Each kind answers, so that no stage asks which kind it holds; a new
    kind is a frozen class with these members (docs/architecture.md)."""

    template: ClassVar[str]  # the template in templates/ its Dockerfile is rendered from
    pip: tuple[str, ...]  # requirements beyond the variant's lock
    apt: tuple[str, ...]  # OS packages beyond the workbench
    # Built FROM the matrix's base image: the preflight checks that base before the build.
    starts_from_base: ClassVar[bool]
    # An equal inputs digest in the registry proves the image unchanged, so a release retags it instead of building.
    retags_unchanged: ClassVar[bool]

    def name_of(self, variant: Variant) -> str:
        """Its name among the images of one run (logs, reports, build contexts)."""
        ...

    def built_first(self, variant: Variant) -> tuple[Variant, ...]:
        """The images of ours it is built FROM, which a build makes first where the engine lacks them."""
        ...

    def built_from(self, variant: Variant, ours: Callable[[Variant], str]) -> str:
        """The reference its Dockerfile's FROM names; `ours` names an image of ours (core/tags.local_ref)."""
        ...

    def additions(self, variant: Variant, ours: Callable[[Variant], str]) -> Additions | None:
        """What release.json records of it beyond the variant: what it adds over the image of ours it is built FROM
        (None: nothing, it is the variant's own image)."""
        ...

    def build_args(self, torch_index: str) -> dict[str, str]:
        """The build arguments its Dockerfile reads."""
        ...


@dataclass(frozen=True)
class Additions:
    """What an image adds over the image of ours it is built FROM (release.json's `team`)."""

    base: str  # the local image it was built FROM
    pip: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()


@dataclass(frozen=True)
class Standard:
    """The variant's own image: torch, the workbench and the image contract, built FROM the matrix's base image."""

    template: ClassVar[str] = "Dockerfile.j2"
    pip: ClassVar[tuple[str, ...]] = ()
    apt: ClassVar[tuple[str, ...]] = ()
    starts_from_base: ClassVar[bool] = True
    retags_unchanged: ClassVar[bool] = True  # its inputs digest holds the base image's digest

    def name_of(self, variant: Variant) -> str:
        return variant.id

    def built_first(self, variant: Variant) -> tuple[Variant, ...]:
        return ()

    def built_from(self, variant: Variant, ours: Callable[[Variant], str]) -> str:
        return variant.base_image

    def additions(self, variant: Variant, ours: Callable[[Variant], str]) -> Additions | None:
        return None  # recorded as the variant itself

    def build_args(self, torch_index: str) -> dict[str, str]:
        return {"TORCH_INDEX_URL": torch_index}


STANDARD = Standard()


@dataclass(frozen=True)
class Team:
    """A team's image (matrix.yaml `images:`): its additions in layers above its variant's own image."""

    template: ClassVar[str] = "Team.Dockerfile.j2"
    # The variant's own image is checked before its build, and was built first.
    starts_from_base: ClassVar[bool] = False
    # Always built: its inputs digest cannot see the local image it is built FROM (the rebuild is a few layers on a
    # cached base).
    retags_unchanged: ClassVar[bool] = False
    name: str  # its repository name
    pip: tuple[str, ...] = ()  # requirements, installed under constraints that pin torch & co
    apt: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    tests: Path | None = None  # the team's in-image pytest folder, resolved against the matrix file
    from_repository: str = "pytorch"  # the repository of the variant's own image, which this one builds FROM
    variants: tuple[str, ...] = ()  # the --variant patterns it is built for

    def builds_on(self, variant_id: str) -> bool:
        return any(fnmatch.fnmatchcase(variant_id, pattern) for pattern in self.variants)

    def name_of(self, variant: Variant) -> str:
        return f"{self.name}-{variant.id}"

    def built_first(self, variant: Variant) -> tuple[Variant, ...]:
        return (self._own_image(variant),)

    def built_from(self, variant: Variant, ours: Callable[[Variant], str]) -> str:
        return ours(self._own_image(variant))

    def additions(self, variant: Variant, ours: Callable[[Variant], str]) -> Additions | None:
        return Additions(base=ours(self._own_image(variant)), pip=self.pip, apt=self.apt)

    def build_args(self, torch_index: str) -> dict[str, str]:
        return {}  # torch is in its FROM already

    def _own_image(self, variant: Variant) -> Variant:
        """The variant's own image, which this one is built FROM."""
        return dataclasses.replace(variant, image=self.from_repository, kind=STANDARD)


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
    # Which image of the variant this is: its own (STANDARD), or a team's (`image` is then the team's name and it
    # builds FROM the variant's own image). Same id, same tags, another repository.
    kind: ImageKind = field(default=STANDARD)
    # Docker's platform name; one (torch, CUDA, Python, flavor) on two platforms is two variants, one tag.
    platform: str = DEFAULT_PLATFORM
    # Every platform this (torch, CUDA, Python, flavor) is built for: with more than one, each platform's image is
    # pushed under tags of its own and the plain tags name the index of them all (core/tags.py).
    platforms: tuple[str, ...] = (DEFAULT_PLATFORM,)

    @property
    def multi_platform(self) -> bool:
        return len(self.platforms) > 1

    def on(self, name: str) -> Variant:
        """The same build on another of its platforms."""
        return dataclasses.replace(self, platform=name)

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
        """cibuildwheel-style build identifier: 2.6.0-cu124-py3.11-runtime; off linux/amd64 with a suffix (-arm64)."""
        return f"{self.torch}-{self.cuda_tag}-py{self.python}-{self.flavor}{platform(self.platform).id_suffix}"

    @property
    def name(self) -> str:
        """The id, or for a team's image `<team>-<id>`: unique among the images of one run (logs, reports)."""
        return self.kind.name_of(self)

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
            "platform": self.platform,
        }


def builds_of(variants: Iterable[Variant]) -> list[list[Variant]]:
    """The one grouping of images into builds: a build is one image of one (torch, CUDA, Python, flavor) on each of
    its platforms. Each group holds the variants given, builds in order of first appearance."""
    found: dict[tuple[str, str], list[Variant]] = {}
    for v in variants:
        found.setdefault((v.image, v.on(v.platforms[0]).id), []).append(v)
    return list(found.values())


def platform_builds(variants: Iterable[Variant]) -> list[list[Variant]]:
    """The multi-platform builds among `variants`, each as the variants of all its platforms (in PLATFORMS order:
    linux/amd64 first), whichever of them was selected."""
    return [[build[0].on(p) for p in PLATFORMS if p in build[0].platforms]
            for build in builds_of(variants) if build[0].multi_platform]
