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


class MatrixFile(_Strict):
    defaults: Defaults
    cuda: dict[StrictStr, CudaVersion]
    cpu_index: StrictStr = Field(pattern=r"^https?://")
    releases: list[Release] = Field(min_length=1)
