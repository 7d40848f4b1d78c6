"""Stage 1: load and validate matrix.yaml, expand it into Variants, select by options."""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version
from pydantic import ValidationError

from . import matrix_rules
from .errors import ConfigError, NothingSelected
from .schema import CUDA, FLAVORS, PYTHON, MatrixFile, Release
from .variant import Variant
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

    def variant(self, release: Release, cuda: str, python: str, flavor: str) -> Variant:
        """Resolve one (release, CUDA, Python, flavor) into a Variant; the caller checks it exists."""
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

    def expand(self) -> list[Variant]:
        """Every variant the matrix builds: each (torch, CUDA, flavor) at its default Python, plus extras."""
        variants = []
        for release in self.releases:
            for cuda, flavor in self.builds(release):
                variants += [self.variant(release, cuda, python, flavor) for python in pythons_built(release, cuda)]
        return variants


def pythons_built(release: Release, cuda: str) -> list[str]:
    """The build's default Python first, then the extra Pythons the matrix builds."""
    default = default_python(release, cuda)
    return [default] + [p for p in release.extra_pythons if p != default]


def default_python(release: Release, cuda: str) -> str:
    build = release.cuda.get(cuda)
    return (build.default_python if build and build.default_python else None) or release.default_python


def load_matrix(path: Path = DEFAULT_MATRIX) -> Matrix:
    located = load_located(path)
    if located.data is None:
        raise located.error((), "the matrix is empty: it needs defaults, cuda, cpu_index and releases")
    if not isinstance(located.data, dict):
        raise located.error((), "the matrix must be a mapping with defaults, cuda, cpu_index and releases")
    try:
        parsed = MatrixFile.model_validate(located.data)
    except ValidationError as exc:
        raise matrix_rules.explain(exc, located) from None
    matrix_rules.check(parsed, located)
    return Matrix(file=parsed, source=str(path))


TORCH_SELECTOR = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"  # 2, 2.6 or 2.6.0: a prefix of release versions
MAX_PATTERN = 200


@dataclass(frozen=True)
class Selection:
    """What the user asked for; None means any. `--python` unset means each build's default Python.

    Built once from the command line; its own checks refuse values that could never select anything (an empty
    --torch would otherwise select everything), so every command that takes a selection refuses them alike.
    `cuda` is stored normalised: cu124 becomes 12.4."""

    torch: str | None = None
    cuda: str | None = None
    flavor: str | None = None
    python: str | None = None
    variant: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for option in ("torch", "cuda", "flavor", "python"):
            value = getattr(self, option)
            if value is not None and not value.strip():
                raise ConfigError(f"--{option} is empty: give it a value, or leave the option out to select any")
        if self.torch is not None and not re.fullmatch(TORCH_SELECTOR, self.torch):
            raise ConfigError(f"--torch {_shown(self.torch)} is not a torch version: use a minor like 2.6 "
                              "or a release like 2.6.0")
        if self.cuda is not None:
            object.__setattr__(self, "cuda", normalise_cuda(self.cuda))
        if self.flavor is not None and self.flavor not in FLAVORS:
            raise ConfigError(f"unknown flavor {_shown(self.flavor)}: flavors are {', '.join(FLAVORS)}")
        if self.python is not None and self.python != "all" and not re.fullmatch(PYTHON, self.python):
            raise ConfigError(f"--python {_shown(self.python)} is not a Python version: use e.g. 3.12, or all")
        object.__setattr__(self, "variant", tuple(self.variant or ()))
        for pattern in self.variant:
            if not pattern.strip() or len(pattern) > MAX_PATTERN:
                raise ConfigError(f"--variant {_shown(pattern)} is not a variant id or glob: use e.g. "
                                  "'2.6.0-cu124-*' (list ids with `imgbuild matrix`)")
        if self.cuda == "cpu" and self.flavor == "devel":
            raise ConfigError("CPU builds come in the runtime flavor only: drop --flavor devel, or pick a CUDA "
                              "version with --cuda")

    def matches_id(self, variant: Variant) -> bool:
        return not self.variant or any(fnmatch.fnmatchcase(variant.id, p) for p in self.variant)


def _shown(value: str) -> str:
    """A user's value quoted for a message, cut short: a message stays one line of sane length."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def normalise_cuda(value: str) -> str:
    """Accept 12.4, cu124 and cpu; refuse anything else (cu12 is not CUDA 1.2)."""
    spelled = value.strip().lower()
    if spelled.startswith("cu") and spelled[2:].isascii() and spelled[2:].isdigit() and 3 <= len(spelled) - 2 <= 4:
        spelled = f"{spelled[2:-1]}.{spelled[-1]}"  # the index's spelling: the last digit is the minor version
    if spelled != "cpu" and not re.fullmatch(CUDA, spelled):
        raise ConfigError(f"--cuda {_shown(value)} is not a CUDA version: use e.g. 12.4 (or cu124), or cpu")
    return spelled


def select(matrix: Matrix, sel: Selection) -> list[Variant]:
    """The variants a selection names, or a NothingSelected that says what exists instead.

    No option at all means the whole matrix as declared (default and extra Pythons); otherwise an unset
    --python means each build's default Python, and `--python all` every Python the matrix builds."""
    if sel == Selection():
        return matrix.expand()
    releases = _select_releases(matrix, sel.torch)
    cuda = sel.cuda
    flavors = matrix.file.defaults.flavors
    if sel.flavor and sel.flavor not in flavors:
        raise NothingSelected(f"unknown flavor {sel.flavor!r}: flavors are {', '.join(flavors)}")
    chosen: list[Variant] = []
    for release in releases:
        builds = matrix.builds(release)
        have = sorted({c for c, _ in builds if c != "cpu"}, key=Version) + (["cpu"] if release.cpu else [])
        if cuda and cuda not in have:
            if len(releases) == 1:
                raise NothingSelected(
                    f"torch {release.torch} has no {_cuda_name(cuda)} build; it has {', '.join(have)}: "
                    f"use e.g. `imgbuild matrix --torch {sel.torch} --cuda {_best(have)}`")
            continue
        if sel.python and sel.python != "all" and sel.python not in release.pythons:
            if len(releases) == 1:
                raise NothingSelected(
                    f"torch {release.torch} has no wheels for Python {sel.python}; it has "
                    f"{', '.join(release.pythons)}: use e.g. `--python {release.default_python}`")
            continue
        for build_cuda, flavor in builds:
            if cuda and build_cuda != cuda or sel.flavor and flavor != sel.flavor:
                continue
            if sel.python and sel.python != "all":
                pythons = [sel.python]
            elif sel.variant or sel.python == "all":  # patterns may name any Python the matrix builds
                pythons = pythons_built(release, build_cuda)
            else:
                pythons = [default_python(release, build_cuda)]
            chosen += [v for p in pythons if sel.matches_id(v := matrix.variant(release, build_cuda, p, flavor))]
    if not chosen:
        raise NothingSelected(_why_empty(matrix, sel, cuda))
    return chosen


def _select_releases(matrix: Matrix, torch: str | None) -> list[Release]:
    if not torch:
        return list(matrix.releases)
    parts = torch.split(".")
    found = [r for r in matrix.releases if r.torch.split(".")[: len(parts)] == parts]
    if not found:
        minors = list(dict.fromkeys(".".join(r.torch.split(".")[:2]) for r in matrix.releases))
        known = ", ".join(minors) if len(minors) <= 16 else f"{len(minors)} minors, newest {', '.join(minors[-8:])}"
        raise NothingSelected(f"unknown torch {torch}: the matrix has {known}; pick one with --torch")
    return found


def _why_empty(matrix: Matrix, sel: Selection, cuda: str | None) -> str:
    if sel.variant:
        examples = ", ".join(v.id for v in matrix.expand()[:2])
        return (f"no variant matches {' '.join(sel.variant)} (with the other options): ids look like {examples}; "
                "list them with `imgbuild matrix`")
    if cuda and sel.flavor == "devel" and cuda in matrix.file.cuda and not matrix.has_devel(cuda):
        with_devel = sorted((c for c in matrix.file.cuda if matrix.has_devel(c)), key=Version)
        return (f"CUDA {cuda} has no devel flavor: NVIDIA's PyPI wheels carry nvcc only for CUDA "
                f"{', '.join(with_devel) or 'none of the matrix'}: use e.g. --cuda {with_devel[-1] if with_devel else cuda}"
                " --flavor devel, or the runtime flavor")
    if cuda:
        known = sorted({c for r in matrix.releases for c in r.cuda}, key=Version)
        return f"no release in the matrix has a {_cuda_name(cuda)} build; CUDA builds are {', '.join(known)} and cpu"
    return "the selection matches no variant: list what exists with `imgbuild matrix`"


def _cuda_name(cuda: str) -> str:
    return "CPU" if cuda == "cpu" else f"CUDA {cuda}"


def _best(have: list[str]) -> str:
    gpu = [c for c in have if c != "cpu"]
    return gpu[-1] if gpu else "cpu"
