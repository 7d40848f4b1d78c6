"""What a team may add on top of a variant (matrix.yaml `images:`), checked when the matrix loads.

An extra must not change what the variant's labels promise: torch, torchvision, timm, Triton and the CUDA
libraries (nvidia-*, cuda-* wheels; CUDA/NVIDIA Debian packages). Names are refused here; at build time
the team's pip install also runs under a constraints file that pins the installed ones (Team.Dockerfile.j2).
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .schema import MatrixFile
from .yamlsource import Located

PINNED_PIP = {"torch", "torchvision", "timm", "triton", "pytorch-triton"}
PINNED_PIP_PREFIXES = ("nvidia-", "cuda-")
PINNED_APT = re.compile(r"^(cuda|nvidia|libnvidia|libcuda|libcudnn|libcublas|libcufft|libcurand|libcusolver|"
                        r"libcusparse|libnccl|libnvrtc|libnvjitlink|python3-torch)")


def refused_pip(requirement: str) -> str | None:
    """Why a pip extra is refused, or None."""
    name = canonicalize_name(Requirement(requirement).name)
    if name in PINNED_PIP or name.startswith(PINNED_PIP_PREFIXES):
        return f"{name} would change the variant's torch/torchvision/timm/CUDA, which its tags and labels pin"
    return None


def refused_apt(package: str) -> str | None:
    if PINNED_APT.match(package):
        return f"{package} would bring another CUDA/NVIDIA stack beside the one torch was built with"
    return None


def check_images(file: MatrixFile, ids: list[str], located: Located) -> None:
    """A team's image (matrix.yaml `images:`) is refused here, before anything is built."""
    seen: dict[str, int] = {}
    for i, image in enumerate(file.images):
        at = ("images", i)
        if image.name == file.defaults.image:
            raise located.error(at + ("name",), f"image name {image.name!r} is the standard image's: pick another name")
        if image.name in seen:
            raise located.error(at + ("name",), f"duplicate image {image.name!r} (first at line {seen[image.name]})")
        seen[image.name] = located.line(at + ("name",))
        for j, requirement in enumerate(image.pip):
            if why := refused_pip(requirement):
                raise located.error(at + ("pip", j), f"image {image.name}: {requirement!r} is refused: {why}: "
                                    "drop it (torch comes from the variant; pick another variant instead)")
        for j, package in enumerate(image.apt):
            if why := refused_apt(package):
                raise located.error(at + ("apt", j), f"image {image.name}: apt package {package!r} is refused: {why}: "
                                    "drop it")
        if image.tests:
            home = Path(located.file).resolve().parent
            folder = (home / image.tests).resolve()  # symlinks resolved: a link cannot lead out either
            if Path(image.tests).is_absolute() or not folder.is_relative_to(home):
                raise located.error(at + ("tests",), f"image {image.name}: its tests folder {image.tests!r} is outside "
                                    "the matrix's folder (it would be copied into the image): give a folder beside "
                                    "matrix.yaml, like teams/NAME")
            if not folder.is_dir():
                raise located.error(at + ("tests",), f"image {image.name}: its tests folder {image.tests!r} is not "
                                    "there (paths are relative to the matrix file): make it or drop `tests:`")
        for j, pattern in enumerate(image.variants):
            if not any(fnmatch.fnmatchcase(v, pattern) for v in ids):
                raise located.error(at + ("variants", j), f"image {image.name}: {pattern!r} matches no variant: ids "
                                    f"look like {ids[0]}; list them with `imgbuild matrix`")
