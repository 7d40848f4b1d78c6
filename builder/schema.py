"""The shape of matrix.yaml, as pydantic models: unknown keys and wrong types are refused."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

FLAVORS = ("runtime", "devel")
VERSION = r"^\d+\.\d+(\.\d+)*$"
PYTHON = r"^3\.\d+$"
CUDA = r"^\d+\.\d+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Defaults(_Strict):
    image: StrictStr = Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")
    base_image: StrictStr = Field(min_length=1)
    jupyterlab: StrictStr = Field(pattern=VERSION)
    timm: StrictStr = Field(pattern=VERSION)
    flavors: list[Literal["runtime", "devel"]] = Field(min_length=1)


class CudaVersion(_Strict):
    min_driver: StrictStr = Field(pattern=VERSION)
    index: StrictStr = Field(pattern=r"^https?://")
    nvcc: StrictStr = Field(min_length=1)


class CudaBuild(_Strict):
    cudnn: StrictStr = Field(pattern=VERSION)
    default_python: StrictStr | None = Field(default=None, pattern=PYTHON)


class Release(_Strict):
    torch: StrictStr = Field(pattern=VERSION)
    torchvision: StrictStr = Field(pattern=VERSION)
    pythons: list[StrictStr] = Field(min_length=1)
    default_python: StrictStr = Field(pattern=PYTHON)
    extra_pythons: list[StrictStr] = Field(default_factory=list)
    pypi_cuda: StrictStr = Field(pattern=r"^(\d+\.\d+|cpu)$")
    default_cuda: StrictStr = Field(pattern=r"^(\d+\.\d+|cpu)$")
    cuda: dict[StrictStr, CudaBuild] = Field(default_factory=dict)
    cpu: StrictBool = True

    @field_validator("pythons", "extra_pythons")
    @classmethod
    def _python_versions(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(PYTHON, value):
                raise ValueError(f"{value!r} is not a Python version like \"3.11\"")
        return values


# --- the workbench and a team's images (README, "Your team's image") ---------------------------------
DEBIAN_PACKAGE = r"^[a-z0-9][a-z0-9+.-]+$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _package_names(values: list[str]) -> list[str]:
    for value in values:
        if not re.match(DEBIAN_PACKAGE, value):
            raise ValueError(f"{value!r} is not a Debian package name")
    return values


class PythonTool(_Strict):
    version: StrictStr = Field(pattern=VERSION)
    requires_python: StrictStr = Field(min_length=1)  # the wheel's Requires-Python, e.g. ">=3.9"

    @field_validator("requires_python")
    @classmethod
    def _specifier(cls, value: str) -> str:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"{value!r} is not a Requires-Python specifier like \">=3.9\"") from None
        return value


class Workbench(_Strict):
    system: list[StrictStr] = Field(min_length=1)  # what the image contract needs
    tools: list[StrictStr] = Field(default_factory=list)  # the user's tools, their own layer
    python: dict[StrictStr, PythonTool] = Field(default_factory=dict)

    _packages = field_validator("system", "tools")(lambda values: _package_names(values))


class TeamImage(_Strict):
    name: StrictStr = Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$")
    variants: list[StrictStr] = Field(min_length=1)  # --variant patterns
    pip: list[StrictStr] = Field(default_factory=list)  # PEP 508 requirements
    apt: list[StrictStr] = Field(default_factory=list)
    env: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    tests: StrictStr | None = Field(default=None, min_length=1)  # a folder, relative to the matrix file

    @field_validator("pip")
    @classmethod
    def _requirements(cls, values: list[str]) -> list[str]:
        from packaging.requirements import InvalidRequirement, Requirement

        for value in values:
            try:
                Requirement(value)
            except InvalidRequirement:
                raise ValueError(f"{value!r} is not a pip requirement like \"einops==0.8.2\"") from None
        return values

    _packages = field_validator("apt")(lambda values: _package_names(values))

    @field_validator("env")
    @classmethod
    def _env_names(cls, values: dict[str, str]) -> dict[str, str]:
        for key, value in values.items():
            if not re.match(ENV_NAME, key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if "\n" in value or "\r" in value:
                raise ValueError(f"the value of {key} has a line break: environment values are one line")
        return values


class MatrixFile(_Strict):
    defaults: Defaults
    cuda: dict[StrictStr, CudaVersion]
    cpu_index: StrictStr = Field(pattern=r"^https?://")
    releases: list[Release] = Field(min_length=1)
    workbench: Workbench
    images: list[TeamImage] = Field(default_factory=list)
