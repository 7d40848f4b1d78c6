"""Select variants: what the command line asks for (a Selection, checked once), matched against the Matrix."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from packaging.version import Version

from ..core.errors import ConfigError, NothingSelected
from ..core.platform import DEFAULT_PLATFORM, PLATFORMS, parse_platform
from ..core.shown import shown
from ..core.variant import Variant
from .load import Matrix, default_python, platforms_built, pythons_built
from .schema import CUDA, FLAVORS, PYTHON, Release

TORCH_SELECTOR = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"  # 2, 2.6 or 2.6.0: a prefix of release versions
MAX_PATTERN = 200


@dataclass(frozen=True)
class Selection:
    """What the user asked for; None means any. `--python` unset means each build's default Python, `--platform`
    unset linux/amd64 (ids without a platform suffix), `--platform all` every platform.

    Built once from the command line; its own checks refuse values that could never select anything (an empty
    --torch would otherwise select everything), so every command that takes a selection refuses them alike.
    `cuda` is stored normalised: cu124 becomes 12.4."""

    torch: str | None = None
    cuda: str | None = None
    flavor: str | None = None
    python: str | None = None
    variant: tuple[str, ...] = ()
    platform: str | None = None

    def __post_init__(self) -> None:
        for option in ("torch", "cuda", "flavor", "python"):
            value = getattr(self, option)
            if value is not None and not value.strip():
                raise ConfigError(f"--{option} is empty: give it a value, or leave the option out to select any")
        if self.torch is not None and not re.fullmatch(TORCH_SELECTOR, self.torch):
            raise ConfigError(f"--torch {shown(self.torch, 40)} is not a torch version: use a minor like 2.6 "
                              "or a release like 2.6.0")
        if self.cuda is not None:
            object.__setattr__(self, "cuda", normalise_cuda(self.cuda))
        if self.flavor is not None and self.flavor not in FLAVORS:
            raise ConfigError(f"unknown flavor {shown(self.flavor, 40)}: flavors are {', '.join(FLAVORS)}")
        if self.python is not None and self.python != "all" and not re.fullmatch(PYTHON, self.python):
            raise ConfigError(f"--python {shown(self.python, 40)} is not a Python version: use e.g. 3.12, or all")
        object.__setattr__(self, "variant", tuple(self.variant or ()))
        for pattern in self.variant:
            if not pattern.strip() or len(pattern) > MAX_PATTERN:
                raise ConfigError(f"--variant {shown(pattern, 40)} is not a variant id or glob: use e.g. "
                                  "'2.6.0-cu124-*' (list ids with `imgbuild matrix`)")
        if self.platform is not None:
            chosen = "all" if self.platform.strip().lower() == "all" else parse_platform(self.platform)
            object.__setattr__(self, "platform", chosen)
        if self.cuda == "cpu" and self.flavor == "devel":
            raise ConfigError("CPU builds come in the runtime flavor only: drop --flavor devel, or pick a CUDA "
                              "version with --cuda")

    @property
    def platforms(self) -> tuple[str, ...]:
        if self.platform is None:
            return (DEFAULT_PLATFORM,)
        return tuple(PLATFORMS) if self.platform == "all" else (self.platform,)

    def matches_id(self, variant: Variant) -> bool:
        return not self.variant or any(fnmatch.fnmatchcase(variant.id, p) for p in self.variant)


def normalise_cuda(value: str) -> str:
    """Accept 12.4, cu124 and cpu; refuse anything else (cu12 is not CUDA 1.2)."""
    spelled = value.strip().lower()
    if spelled.startswith("cu") and spelled[2:].isascii() and spelled[2:].isdigit() and 3 <= len(spelled) - 2 <= 4:
        spelled = f"{spelled[2:-1]}.{spelled[-1]}"  # the index's spelling: the last digit is the minor version
    if spelled != "cpu" and not re.fullmatch(CUDA, spelled):
        raise ConfigError(f"--cuda {shown(value, 40)} is not a CUDA version: use e.g. 12.4 (or cu124), or cpu")
    return spelled


def select(matrix: Matrix, sel: Selection) -> list[Variant]:
    """The variants a selection names, or a NothingSelected that says what exists instead.

    No option at all means the whole matrix as declared (default and extra Pythons); otherwise an unset
    --python means each build's default Python, and `--python all` every Python the matrix builds."""
    if sel == Selection(platform=sel.platform):  # no option but perhaps --platform: the whole matrix
        return _on_platforms(matrix, sel)
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
            chosen += [v for platform in platforms_built(release, build_cuda) if platform in sel.platforms
                       for p in pythons if sel.matches_id(v := matrix.variant(release, build_cuda, p, flavor, platform))]
    if not chosen:
        raise NothingSelected(_why_empty(matrix, sel, cuda))
    return chosen


def _on_platforms(matrix: Matrix, sel: Selection) -> list[Variant]:
    """The whole matrix on the selected platforms."""
    chosen = matrix.expand(sel.platforms)
    if not chosen:
        raise NothingSelected(_why_empty(matrix, sel, None))
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
    if sel.platforms != (DEFAULT_PLATFORM,):
        have = [f"torch {r.torch} ({', '.join(builds)})" for r in matrix.releases
                for name, builds in r.platforms.items() if name in sel.platforms]
        return (f"the selection has no {' or '.join(sel.platforms)} build; "
                f"{'its builds are ' + ', '.join(have[-6:]) if have else 'the matrix lists none (platforms:)'}: "
                "list them with `imgbuild matrix --platform all`")
    if cuda:
        known = sorted({c for r in matrix.releases for c in r.cuda}, key=Version)
        return f"no release in the matrix has a {_cuda_name(cuda)} build; CUDA builds are {', '.join(known)} and cpu"
    return "the selection matches no variant: list what exists with `imgbuild matrix`"


def _cuda_name(cuda: str) -> str:
    return "CPU" if cuda == "cpu" else f"CUDA {cuda}"


def _best(have: list[str]) -> str:
    gpu = [c for c in have if c != "cpu"]
    return gpu[-1] if gpu else "cpu"
