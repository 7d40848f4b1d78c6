"""The workbench every image carries (matrix.yaml `workbench:`): what a Variant gets from it, what the
matrix must satisfy for it, and the labels that tell the smoke suite what to find in the image."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .schema import Workbench

if TYPE_CHECKING:  # matrix.py imports this module
    from .matrix import Matrix
    from .variant import Variant
    from .yamlsource import Located

LABEL_OS, LABEL_PYTHON = "io.imgbuild.workbench.os", "io.imgbuild.workbench.python"


def workbench_fields(workbench: Workbench) -> dict[str, tuple[str, ...]]:
    """The Variant fields the workbench fills: sorted, so renders are byte-identical."""
    return {
        "system_packages": tuple(sorted(workbench.system)),
        "tool_packages": tuple(sorted(set(workbench.tools) - set(workbench.system))),
        "python_tools": tuple(f"{name}=={tool.version}" for name, tool in sorted(workbench.python.items())),
    }


def check_workbench(matrix: Matrix, located: Located) -> None:
    """Every Python the matrix builds satisfies every tool's Requires-Python: a build never finds out late."""
    for name, tool in matrix.file.workbench.python.items():
        allowed = SpecifierSet(tool.requires_python)
        for variant in matrix.expand():
            if Version(variant.python) not in allowed:
                raise located.error(("workbench", "python", name, "requires_python"),
                                    f"{name} {tool.version} needs Python {tool.requires_python}, but the matrix builds "
                                    f"{variant.id}: pin a {name} that supports Python {variant.python}")


def workbench_labels(variant: Variant) -> dict[str, str]:
    """What the in-image suite checks: every OS package (system and tools) and every pinned Python tool."""
    return {LABEL_OS: json.dumps(sorted(variant.system_packages + variant.tool_packages), separators=(",", ":")),
            LABEL_PYTHON: json.dumps(list(variant.python_tools), separators=(",", ":"))}


def check_images(matrix: Matrix, located: Located) -> None:
    """A team's image (matrix.yaml `images:`) is refused here, before anything is built. Kept beside the
    workbench check so matrix.py needs one import; the rules themselves live in extras.py."""
    from .extras import check_images as check

    check(matrix, located)
