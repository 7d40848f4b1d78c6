"""The workbench every image carries (matrix.yaml `workbench:`): what a Variant gets from it and the labels that
tell the smoke suite what to find in the image. (Its Python tools' Requires-Python is checked with every other
pin's, in matrix_rules.py.)"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING

import yaml

from .schema import Workbench

if TYPE_CHECKING:  # matrix.py imports this module
    from .matrix import Matrix
    from .variant import Variant
    from .yamlsource import Located

LABEL_OS, LABEL_PYTHON = "io.imgbuild.workbench.os", "io.imgbuild.workbench.python"


@functools.cache
def packaged_workbench() -> Workbench:
    """imgbuild's own workbench (the packaged matrix's), for a matrix that declares none."""
    from .paths import DEFAULT_MATRIX

    return Workbench.model_validate(yaml.safe_load(DEFAULT_MATRIX.read_text(encoding="utf-8"))["workbench"])


def workbench_fields(workbench: Workbench | None) -> dict[str, tuple[str, ...]]:
    """The Variant fields the workbench fills: sorted, so renders are byte-identical."""
    workbench = workbench or packaged_workbench()
    return {
        "system_packages": tuple(sorted(workbench.system)),
        "tool_packages": tuple(sorted(set(workbench.tools) - set(workbench.system))),
        "python_tools": tuple(f"{name}=={version}" for name, version in sorted(workbench.python.items())),
    }


def workbench_labels(variant: Variant) -> dict[str, str]:
    """What the in-image suite checks: every OS package (system and tools) and every pinned Python tool."""
    return {LABEL_OS: json.dumps(sorted(variant.system_packages + variant.tool_packages), separators=(",", ":")),
            LABEL_PYTHON: json.dumps(list(variant.python_tools), separators=(",", ":"))}


def check_images(matrix: Matrix, located: Located) -> None:
    """A team's image (matrix.yaml `images:`) is refused here, before anything is built. Kept beside the
    workbench check so matrix.py needs one import; the rules themselves live in extras.py."""
    from .extras import check_images as check

    check(matrix, located)
