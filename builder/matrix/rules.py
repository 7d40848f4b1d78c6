"""The rules a loaded matrix.yaml must follow beyond its shape, each failure as `file:line: what is wrong: fix`.

schema.py checks each field on its own; this module checks what spans fields: every variant id is unique
(no release, CUDA tag, Python or flavor twice), every name points at something that exists, and every Python a
release lists can install every pinned package (their Requires-Python, recorded in the matrix).
"""

from __future__ import annotations

import functools

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..core.shown import shown
from .schema import MatrixFile, Release
from .yamlsource import Located


def check(m: MatrixFile, located: Located) -> None:
    """Rules that span fields: what pydantic's per-field checks cannot see."""
    _no_twice(located, ("defaults", "flavors"), m.defaults.flavors, "flavor")
    tags: dict[str, str] = {}
    for cuda in m.cuda:
        tag = "cu" + cuda.replace(".", "")
        if tag in tags:
            raise located.error(("cuda", cuda), f"CUDA {cuda} and {tags[tag]} would both be {tag} in variant ids: "
                                                "keep one of them")
        tags[tag] = cuda
    seen: dict[Version, tuple[str, int]] = {}
    minors: dict[tuple[int, int], str] = {}
    specifiers = _requires_python(m, located)
    for i, release in enumerate(m.releases):
        at = ("releases", i)
        version = Version(release.torch)
        if version in seen:
            first, line = seen[version]
            same = "duplicate torch release" if first == release.torch else f"torch {release.torch} is the same release as"
            raise located.error(at + ("torch",), f"{same} {first} (line {line}): list each release once")
        seen[version] = (release.torch, located.line(at + ("torch",)))
        minor = (version.major, version.minor)
        if minor in minors:
            raise located.error(at + ("torch",), f"torch {release.torch} and {minors[minor]} are both "
                                                 f"{minor[0]}.{minor[1]}: the floating tags would name two images, "
                                                 "keep the newest patch of each minor")
        minors[minor] = release.torch
        _no_twice(located, at + ("pythons",), release.pythons, "Python")
        _no_twice(located, at + ("extra_pythons",), release.extra_pythons, "Python")
        _check_release(m, release, at, located)
        _check_pythons_installable(m, release, at, located, specifiers)


def _no_twice(located: Located, at: tuple, values: list[str], what: str) -> None:
    """Two equal entries would make two variants with one id."""
    first: dict[str, int] = {}
    for j, value in enumerate(values):
        if value in first:
            raise located.error(at + (j,), f"{what} {value} is listed twice in {at[-1]} "
                                           f"(items {first[value] + 1} and {j + 1}): list it once")
        first[value] = j


def _check_release(m: MatrixFile, release: Release, at: tuple, located: Located) -> None:
    for cuda, build in release.cuda.items():
        if cuda not in m.cuda:
            raise located.error(at + ("cuda", cuda), f"CUDA {cuda} has no min_driver: add it under the top-level cuda: map")
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
    for name, builds in release.platforms.items():
        _no_twice(located, at + ("platforms", name), builds, "build")
        for j, build in enumerate(builds):
            if build == "cpu" and not release.cpu or build != "cpu" and build not in release.cuda:
                raise located.error(at + ("platforms", name, j),
                                    f"{name} build {build} is not one of torch {release.torch}'s builds: list it "
                                    "under cuda: (or cpu: true) first")


def _requires_python(m: MatrixFile, located: Located) -> dict[str, SpecifierSet]:
    parsed = {}
    for pin, text in m.requires_python.items():
        try:
            parsed[pin] = SpecifierSet(text)
        except InvalidSpecifier:
            raise located.error(("requires_python", pin),
                                f"{pin}: {shown(text)} is not a Requires-Python specifier like \">=3.9\"") from None
    return parsed


@functools.lru_cache(maxsize=1024)
def _supports(specifier: SpecifierSet, python: str) -> bool:
    """Cached: a 9,000-release matrix asks the same few questions 100,000 times."""
    return specifier.contains(Version(python))


def _check_pythons_installable(m: MatrixFile, release: Release, at: tuple, located: Located,
                               specifiers: dict[str, SpecifierSet]) -> None:
    """Each Python the release lists must satisfy the Requires-Python of every package its images pin."""
    pins = (("jupyterlab", m.defaults.jupyterlab, ("defaults", "jupyterlab")),
            ("timm", m.defaults.timm, ("defaults", "timm")),
            ("torchvision", release.torchvision, at + ("torchvision",)),
            *((name, version, ("workbench", "python", name))
              for name, version in (m.workbench.python.items() if m.workbench else ())))
    for name, version, where in pins:
        pin = f"{name}=={version}"
        if pin not in specifiers:
            raise located.error(where, f"no Requires-Python recorded for {pin}: add `{pin}: \">=3.X\"` under "
                                       "requires_python (from the wheel's METADATA)")
        for j, python in enumerate(release.pythons):
            if not _supports(specifiers[pin], python):
                raise located.error(at + ("pythons", j),
                                    f"torch {release.torch} lists Python {python}, but {pin} needs Python "
                                    f"{specifiers[pin]}: drop {python} from pythons or pin another {name}")
