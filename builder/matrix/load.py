"""Load and validate matrix.yaml into a Matrix, and expand it into Variants."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version
from pydantic import ValidationError

from ..core.platform import DEFAULT_PLATFORM, PLATFORMS
from ..core.variant import Variant
from ..host.checks import MatrixNeeds
from . import rules as matrix_rules
from .explain import explain
from .extras import check_images
from .schema import MatrixFile, Release
from .workbench import workbench_fields
from .yamlsource import load_located

DEFAULT_MATRIX = Path("matrix.yaml")


@dataclass(frozen=True)
class Matrix:
    file: MatrixFile
    source: str

    @functools.cached_property
    def releases(self) -> tuple[Release, ...]:
        """Oldest first; sorted once (expanding a 9,000-release matrix must not sort per variant)."""
        return tuple(sorted(self.file.releases, key=lambda r: Version(r.torch)))

    def variant(self, release: Release, cuda: str, python: str, flavor: str,
                platform: str = DEFAULT_PLATFORM) -> Variant:
        """Resolve one (release, CUDA, Python, flavor) on one platform into a Variant; the caller checks it exists."""
        newest = self.releases[-1]
        build = release.cuda.get(cuda)
        cuda_info = self.file.cuda.get(cuda)
        return Variant(
            torch=release.torch,
            torchvision=release.torchvision,
            timm=self.file.defaults.timm,
            jupyterlab=self.file.defaults.jupyterlab,
            cuda=cuda,
            cudnn=build.cudnn if build else None,
            python=python,
            flavor=flavor,
            min_driver=cuda_info.min_driver if cuda_info else None,
            base_image=self.file.defaults.base_image,
            image=self.file.defaults.image,
            index=cuda_info.index if cuda_info else self.file.cpu_index,
            nvcc_package=cuda_info.nvcc if cuda_info else None,
            pypi_carries=release.pypi_cuda == cuda,
            default_python=python == default_python(release, cuda),
            default_cuda=release.default_cuda == cuda,
            newest=release.torch == newest.torch,
            **workbench_fields(self.file.workbench),
            platform=platform,
            platforms=tuple(platforms_built(release, cuda)),
        )

    def builds(self, release: Release) -> list[tuple[str, str]]:
        """(cuda, flavor) pairs this release is built as; CPU builds come in runtime only, and devel only where
        the CUDA version has an nvcc wheel."""
        pairs = [(cuda, flavor) for cuda in sorted(release.cuda, key=Version) for flavor in self.file.defaults.flavors
                 if flavor != "devel" or self.has_devel(cuda)]
        if release.cpu:
            pairs.append(("cpu", "runtime"))
        return pairs

    def has_devel(self, cuda: str) -> bool:
        info = self.file.cuda.get(cuda)
        return bool(info and info.nvcc)

    def host_needs(self) -> MatrixNeeds:
        """What this matrix asks of a host: `imgbuild doctor` compares the driver and looks for the base."""
        return MatrixNeeds(source=self.source, variants=len(self.expand()), base_image=self.file.defaults.base_image,
                           min_drivers={cuda: info.min_driver for cuda, info in self.file.cuda.items()})

    def expand(self, platforms: tuple[str, ...] = (DEFAULT_PLATFORM,)) -> list[Variant]:
        """Every variant the matrix builds on these platforms: each (torch, CUDA, flavor) at its default Python,
        plus extras."""
        variants = []
        for release in self.releases:
            for cuda, flavor in self.builds(release):
                variants += [self.variant(release, cuda, python, flavor, platform)
                             for platform in platforms_built(release, cuda) if platform in platforms
                             for python in pythons_built(release, cuda)]
        return variants


def platforms_built(release: Release, cuda: str) -> list[str]:
    """linux/amd64 (every build), then the platforms the release lists this build under."""
    return [DEFAULT_PLATFORM] + [name for name, builds in release.platforms.items() if cuda in builds]


def pythons_built(release: Release, cuda: str) -> list[str]:
    """The build's default Python first, then the extra Pythons the matrix builds."""
    default = default_python(release, cuda)
    return [default] + [p for p in release.extra_pythons if p != default]


def default_python(release: Release, cuda: str) -> str:
    build = release.cuda.get(cuda)
    return (build.default_python if build and build.default_python else None) or release.default_python


def host_needs(path: Path) -> MatrixNeeds:
    """The matrix at `path`, read for `imgbuild doctor`."""
    return load_matrix(path).host_needs()


def load_matrix(path: Path = DEFAULT_MATRIX) -> Matrix:
    located = load_located(path)
    if located.data is None:
        raise located.error((), "the matrix is empty: it needs defaults, cuda, cpu_index and releases")
    if not isinstance(located.data, dict):
        raise located.error((), "the matrix must be a mapping with defaults, cuda, cpu_index and releases")
    try:
        parsed = MatrixFile.model_validate(located.data)
    except ValidationError as exc:
        raise explain(exc, located) from None
    matrix_rules.check(parsed, located)
    matrix = Matrix(file=parsed, source=str(path))
    check_images(parsed, [v.id for v in matrix.expand(tuple(PLATFORMS))], located)
    return matrix
