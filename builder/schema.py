"""The shape of matrix.yaml, as pydantic models: unknown keys, wrong types and malformed values are refused.

Every string that ends up in an image id, a tag, a Dockerfile or a pip command line is checked by a pattern with
a length limit here ([0-9], not \\d: Unicode digits are not version digits), so nothing later has to trust it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

FLAVORS = ("runtime", "devel")
VERSION = r"^[0-9]{1,6}(\.[0-9]{1,6}){1,4}$"  # 2.6.0, 9.1.0.70, 525.60.13
PYTHON = r"^3\.(0|[1-9][0-9]?)$"
CUDA = r"^[1-9][0-9]?\.(0|[1-9][0-9]?)$"  # no leading zeros: "12.04" would be a second spelling of 12.4
CUDA_OR_CPU = r"^([1-9][0-9]?\.(0|[1-9][0-9]?)|cpu)$"
PACKAGE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"
PIN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?==[0-9]{1,6}(\.[0-9]{1,6}){0,4}$"
URL = r"^https?://[A-Za-z0-9._~:/?#@!$&()*+,;=%-]{1,400}$"
IMAGE_REF = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"  # what a FROM line may hold: no spaces, quotes or newlines

# What each pattern means to a person, by the field (or map key) that failed it.
MEANING = {
    "torch": 'a version like "2.6.0"', "torchvision": 'a version like "0.21.0"', "jupyterlab": 'a version like "4.5.11"',
    "timm": 'a version like "1.0.30"', "cudnn": 'a version like "9.1.0.70"', "min_driver": 'a version like "525.60.13"',
    "pythons": 'a Python version like "3.12"', "extra_pythons": 'a Python version like "3.12"',
    "default_python": 'a Python version like "3.12"', "pypi_cuda": 'a CUDA version like "12.4", or "cpu"',
    "default_cuda": 'a CUDA version like "12.4", or "cpu"', "cuda": 'a CUDA version like "12.4"',
    "index": "an http(s) URL", "cpu_index": "an http(s) URL", "nvcc": "a pip package name",
    "image": "a repository name like pytorch", "base_image": "an image reference like ubuntu:24.04",
    "requires_python": 'a pin like "jupyterlab==4.5.11"',
}

Python = Annotated[StrictStr, Field(pattern=PYTHON)]
CudaKey = Annotated[StrictStr, Field(pattern=CUDA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Defaults(_Strict):
    image: StrictStr = Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=100)
    base_image: StrictStr = Field(pattern=IMAGE_REF)
    jupyterlab: StrictStr = Field(pattern=VERSION)
    timm: StrictStr = Field(pattern=VERSION)
    flavors: list[Literal["runtime", "devel"]] = Field(min_length=1)


class CudaVersion(_Strict):
    min_driver: StrictStr = Field(pattern=VERSION)
    index: StrictStr = Field(pattern=URL)
    nvcc: StrictStr | None = Field(default=None, pattern=PACKAGE)  # none: this CUDA has no devel flavor


class CudaBuild(_Strict):
    cudnn: StrictStr = Field(pattern=VERSION)
    default_python: StrictStr | None = Field(default=None, pattern=PYTHON)


class Release(_Strict):
    torch: StrictStr = Field(pattern=VERSION)
    torchvision: StrictStr = Field(pattern=VERSION)
    pythons: list[Python] = Field(min_length=1)
    default_python: StrictStr = Field(pattern=PYTHON)
    extra_pythons: list[Python] = Field(default_factory=list)
    pypi_cuda: StrictStr = Field(pattern=CUDA_OR_CPU)
    default_cuda: StrictStr = Field(pattern=CUDA_OR_CPU)
    cuda: dict[CudaKey, CudaBuild] = Field(default_factory=dict)
    cpu: StrictBool = True


class MatrixFile(_Strict):
    defaults: Defaults
    cuda: dict[CudaKey, CudaVersion]
    cpu_index: StrictStr = Field(pattern=URL)
    # The Requires-Python of every pinned package ("name==version": specifier), from its wheel's METADATA:
    # a release may list only Pythons that every pin it installs supports.
    requires_python: dict[Annotated[StrictStr, Field(pattern=PIN)], StrictStr] = Field(default_factory=dict)
    releases: list[Release] = Field(min_length=1)
