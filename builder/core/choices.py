"""The closed sets of values some options take, as Enums: typer refuses anything else before any work starts.

Kept apart from the stages (and free of heavy imports) so the command line can name them at startup.
"""

from __future__ import annotations

from enum import Enum


class GpuMode(str, Enum):
    """Run the smoke suite's GPU tier: where the host can (auto), always (yes: refused where it cannot), never."""

    auto = "auto"
    yes = "yes"
    no = "no"


class Index(str, Enum):
    """Where a build takes torch from.

    auto: PyPI where PyPI's torch is the variant's CUDA build (the same wheels, and the index every corporate
    mirror carries), the variant's PyTorch index otherwise. pytorch: always the PyTorch index. pypi: always PyPI
    (refused where PyPI carries another CUDA build)."""

    auto = "auto"
    pytorch = "pytorch"
    pypi = "pypi"


class Network(str, Enum):
    """The network a build runs on, as the engine names it; host reaches a loopback wheelhouse."""

    host = "host"
    none = "none"
    bridge = "bridge"
    default = "default"
