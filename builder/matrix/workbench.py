"""The workbench every image carries (matrix.yaml `workbench:`): what a Variant gets from it and the labels that
tell the smoke suite what to find in the image. (Its Python tools' Requires-Python is checked with every other
pin's, in rules.py.)"""

from __future__ import annotations

import functools

import yaml

from ..core.paths import DEFAULT_MATRIX
from .schema import Workbench

LABEL_OS, LABEL_PYTHON = "io.imgbuild.workbench.os", "io.imgbuild.workbench.python"


@functools.cache
def packaged_workbench() -> Workbench:
    """imgbuild's own workbench (the packaged matrix's), for a matrix that declares none."""
    return Workbench.model_validate(yaml.safe_load(DEFAULT_MATRIX.read_text(encoding="utf-8"))["workbench"])


def workbench_fields(workbench: Workbench | None) -> dict[str, tuple[str, ...]]:
    """The Variant fields the workbench fills: sorted, so renders are byte-identical."""
    workbench = workbench or packaged_workbench()
    return {
        "system_packages": tuple(sorted(workbench.system)),
        "tool_packages": tuple(sorted(set(workbench.tools) - set(workbench.system))),
        "python_tools": tuple(f"{name}=={version}" for name, version in sorted(workbench.python.items())),
    }
