"""Stage 1: load and validate matrix.yaml, expand it into Variants, select by options."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version
from pydantic import ValidationError

from .errors import ConfigError, NothingSelected
from .schema import MatrixFile, Release
from .variant import Variant
from .workbench import check_images, check_workbench, workbench_fields
from .yamlsource import Located, load_located

DEFAULT_MATRIX = Path("matrix.yaml")


@dataclass(frozen=True)
class Matrix:
    file: MatrixFile
    source: str

    @property
    def releases(self) -> list[Release]:
        return sorted(self.file.releases, key=lambda r: Version(r.torch))

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
            **workbench_fields(self.file.workbench),
        )

    def builds(self, release: Release) -> list[tuple[str, str]]:
        """(cuda, flavor) pairs this release is built as; CPU builds come in runtime only."""
        pairs = [(cuda, flavor) for cuda in sorted(release.cuda, key=Version) for flavor in self.file.defaults.flavors]
        if release.cpu:
            pairs.append(("cpu", "runtime"))
        return pairs

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
        raise _explain(exc, located) from None
    _check_consistency(parsed, located)
    matrix = Matrix(file=parsed, source=str(path))
    check_workbench(matrix, located)
    check_images(matrix, located)
    return matrix


def _explain(exc: ValidationError, located: Located) -> ConfigError:
    """The first pydantic error as `file:line: what is wrong`."""
    # An unknown key is usually a misspelt known one: say that, not that the known one is missing.
    err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r} at {where}"
    elif kind == "missing":
        message = f"missing key {where!r}"
        if loc[-1] == "cudnn":
            message = f"CUDA build {loc[-2]} has no cuDNN version ({where} is missing)"
        elif loc[-1] == "min_driver":
            message = f"CUDA {loc[-2]} has no min_driver ({where} is missing)"
    elif kind == "literal_error" and "flavors" in loc:
        message = f"unknown flavor {err['input']!r} (flavors are runtime, devel)"
    elif kind in ("string_type", "bool_type", "list_type", "dict_type", "model_type", "int_type"):
        expected = {"string_type": "a string (quote versions: \"2.6.0\")", "bool_type": "true or false",
                    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping"}.get(kind, kind)
        message = f"wrong type at {where}: expected {expected}, got {err['input']!r}"
    elif kind == "too_short":
        message = f"{where} is empty: the matrix needs at least one entry"
    else:
        message = f"{where}: {err['msg']}"
    return located.error(loc, message)


def _check_consistency(m: MatrixFile, located: Located) -> None:
    """Rules that span fields: what pydantic's per-field checks cannot see."""
    seen: dict[str, int] = {}
    for i, release in enumerate(m.releases):
        at = ("releases", i)
        if release.torch in seen:
            raise located.error(at + ("torch",),
                                f"duplicate torch release {release.torch} (first at line {seen[release.torch]})")
        seen[release.torch] = located.line(at + ("torch",))
        for cuda, build in release.cuda.items():
            if cuda not in m.cuda:
                raise located.error(at + ("cuda", cuda),
                                    f"CUDA {cuda} has no min_driver: add it under the top-level cuda: map")
            if build.default_python and build.default_python not in release.pythons:
                raise located.error(at + ("cuda", cuda, "default_python"),
                                    f"default Python {build.default_python} is not in torch {release.torch}'s pythons")
        if release.default_python not in release.pythons:
            raise located.error(at + ("default_python",),
                                f"default Python {release.default_python} is not in torch {release.torch}'s pythons "
                                f"{', '.join(release.pythons)}")
        for j, python in enumerate(release.extra_pythons):
            if python not in release.pythons:
                raise located.error(at + ("extra_pythons", j),
                                    f"torch {release.torch} has no wheels for Python {python} "
                                    f"(its pythons: {', '.join(release.pythons)})")
        # pypi_cuda is a fact about PyPI: a matrix may leave that build out (then PyPI carries none of its builds).
        value = release.default_cuda
        if value == "cpu" and not release.cpu or value != "cpu" and value not in release.cuda:
            raise located.error(at + ("default_cuda",), f"default_cuda {value} is not one of torch {release.torch}'s builds")
        if not release.cuda and not release.cpu:
            raise located.error(at, f"torch {release.torch} has no CUDA build and no CPU build")


@dataclass(frozen=True)
class Selection:
    """What the user asked for; None means any. `--python` unset means each build's default Python."""

    torch: str | None = None
    cuda: str | None = None
    flavor: str | None = None
    python: str | None = None
    variant: tuple[str, ...] = ()

    def matches_id(self, variant: Variant) -> bool:
        return not self.variant or any(fnmatch.fnmatchcase(variant.id, p) for p in self.variant)


def normalise_cuda(value: str) -> str:
    """Accept 12.4, cu124 and cpu."""
    value = value.strip().lower()
    if value.startswith("cu") and value[2:].isdigit():
        return f"{value[2:-1]}.{value[-1]}"
    return value


def select(matrix: Matrix, sel: Selection) -> list[Variant]:
    """The variants a selection names, or a NothingSelected that says what exists instead.

    No option at all means the whole matrix as declared (default and extra Pythons); otherwise an unset
    --python means each build's default Python, and `--python all` every Python the matrix builds."""
    if sel == Selection():
        return matrix.expand()
    releases = _select_releases(matrix, sel.torch)
    cuda = normalise_cuda(sel.cuda) if sel.cuda else None
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
        return matrix.releases
    parts = torch.split(".")
    found = [r for r in matrix.releases if r.torch.split(".")[: len(parts)] == parts]
    if not found:
        known = ", ".join(".".join(r.torch.split(".")[:2]) for r in matrix.releases)
        raise NothingSelected(f"unknown torch {torch}: the matrix has {known}; pick one with --torch")
    return found


def _why_empty(matrix: Matrix, sel: Selection, cuda: str | None) -> str:
    if sel.variant:
        examples = ", ".join(v.id for v in matrix.expand()[:2])
        return (f"no variant matches {' '.join(sel.variant)} (with the other options): ids look like {examples}; "
                "list them with `imgbuild matrix`")
    if cuda:
        known = sorted({c for r in matrix.releases for c in r.cuda}, key=Version)
        return f"no release in the matrix has a {_cuda_name(cuda)} build; CUDA builds are {', '.join(known)} and cpu"
    if sel.flavor == "devel" and cuda == "cpu":
        return "CPU builds come in the runtime flavor only: drop --flavor devel"
    return "the selection matches no variant: list what exists with `imgbuild matrix`"


def _cuda_name(cuda: str) -> str:
    return "CPU" if cuda == "cpu" else f"CUDA {cuda}"


def _best(have: list[str]) -> str:
    gpu = [c for c in have if c != "cpu"]
    return gpu[-1] if gpu else "cpu"
