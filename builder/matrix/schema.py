"""The shape of matrix.yaml, as pydantic models: unknown keys, wrong types and malformed values are refused.

Every string that ends up in an image id, a tag, a Dockerfile or a pip command line is checked by a pattern with
a length limit here ([0-9], not \\d: Unicode digits are not version digits), so nothing later has to trust it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

from ..core.errors import ConfigError
from ..core.redact import has_credentials, redact
from ..core.reference import ImageRef, is_loopback_host
from ..core.shown import shown

FLAVORS = ("runtime", "devel")
VERSION = r"^[0-9]{1,6}(\.[0-9]{1,6}){1,4}$"  # 2.6.0, 9.1.0.70, 525.60.13
PYTHON = r"^3\.(0|[1-9][0-9]?)$"
CUDA = r"^[1-9][0-9]?\.(0|[1-9][0-9]?)$"  # no leading zeros: "12.04" would be a second spelling of 12.4
CUDA_OR_CPU = r"^([1-9][0-9]?\.(0|[1-9][0-9]?)|cpu)$"
PACKAGE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"
PIN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?==[0-9]{1,6}(\.[0-9]{1,6}){0,4}$"
URL = r"^https?://[A-Za-z0-9._~:/?#@!$&()*+,;=%\[\]-]{1,400}$"  # [ ]: an IPv6 host, http://[::1]:3141/
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
    "name": "a repository name like vision (lowercase letters, digits, and . _ - between them)",
    "requires_python": 'a pin like "jupyterlab==4.5.11"', "python": "a pip package name like tensorboard",
    "python_version": 'a version like "2.21.0"',
    "platforms": 'one of the release\'s builds: a CUDA version like "13.0", or cpu',
}

# Names the image contract owns: a team's env may not move the venv, the loader, the user or the services' settings.
RESERVED_ENV = frozenset({"PATH", "HOME", "USER", "SHELL", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "VIRTUAL_ENV",
                          "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                          "PIP_CONSTRAINT", "CUDA_HOME", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
                          "JUPYTER_TOKEN", "JUPYTER_PORT", "SSH_PORT", "SSH_AUTHORIZED_KEYS", "TENSORBOARD_PORT",
                          "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"})
RESERVED_ENV_PREFIXES = ("IMGBUILD_", "LD_", "DYLD_")


def _no_credentials(url: str) -> str:
    """An index URL lands in the Dockerfile (an ARG) and the provenance: a token in it would be in the image."""
    if has_credentials(url):
        raise ValueError("carries credentials (user:password@ or a token before the host), which would land in the "
                         "image's history: configure the index on the build host (pip.conf, PIP_INDEX_URL) or build "
                         "from a --wheelhouse")
    return url


def _https_or_loopback(url: str) -> str:
    """Plain http lets anyone on the way swap the wheels a build installs (pip trusts what the index serves); only a
    mirror on this machine (a loopback host) may speak it."""
    host = urlsplit(url).hostname or ""
    if url.lower().startswith("http://") and not is_loopback_host(host):
        raise ValueError(f"plain http:// to {host[:60] or 'no host'}, which anyone on the way can answer with other "
                         "wheels: use https:// (http:// only to localhost, 127.0.0.1 or [::1])")
    return url


def _by_name(name: str = "NAME") -> str:
    """What a team's pip entry must be, and how to get there from a wheel of one's own."""
    return (f"a team's pip entries are requirements pip resolves by name: pin {name}==VERSION (a wheel of your own: "
            "put it in the folder you build with --wheelhouse)")


def _image_ref(value: str) -> str:
    """A FROM line: the one reference parser decides, and only its parsed form goes on."""
    try:
        return str(ImageRef.parse(value))
    except ConfigError as exc:
        raise ValueError(str(exc).removeprefix("bad image reference ")) from None


Url = Annotated[StrictStr, Field(pattern=URL), AfterValidator(_no_credentials), AfterValidator(_https_or_loopback)]
Python = Annotated[StrictStr, Field(pattern=PYTHON)]
CudaKey = Annotated[StrictStr, Field(pattern=CUDA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Defaults(_Strict):
    image: StrictStr = Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=100)
    base_image: Annotated[StrictStr, Field(pattern=IMAGE_REF), AfterValidator(_image_ref)]
    jupyterlab: StrictStr = Field(pattern=VERSION)
    timm: StrictStr = Field(pattern=VERSION)
    flavors: list[Literal["runtime", "devel"]] = Field(min_length=1)


class CudaVersion(_Strict):
    min_driver: StrictStr = Field(pattern=VERSION)
    index: Url
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
    # Builds (a CUDA key or cpu) also made for another platform than linux/amd64, which every build is made for:
    # those whose wheels for that platform an index carries.
    platforms: dict[Literal["linux/arm64"], list[Annotated[StrictStr, Field(pattern=CUDA_OR_CPU)]]] = Field(
        default_factory=dict)


# --- the workbench and a team's images (README, "Your team's image") ---------------------------------
DEBIAN_PACKAGE = r"^[a-z0-9][a-z0-9+.-]{1,99}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"


def _package_names(values: list[str]) -> list[str]:
    for value in values:
        if not re.match(DEBIAN_PACKAGE, value):
            raise ValueError(f"{value!r} is not a Debian package name")
    return values


class Workbench(_Strict):
    system: list[StrictStr] = Field(min_length=1)  # what the image contract needs
    tools: list[StrictStr] = Field(default_factory=list)  # the user's tools, their own layer
    # pip packages beside torch, pinned exactly; their Requires-Python goes under requires_python like every pin
    python: dict[Annotated[StrictStr, Field(pattern=PACKAGE)], Annotated[StrictStr, Field(pattern=VERSION)]] = Field(
        default_factory=dict)

    _packages = field_validator("system", "tools")(lambda values: _package_names(values))


class TeamImage(_Strict):
    name: StrictStr = Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=100)  # a repository name
    variants: list[Annotated[StrictStr, Field(min_length=1, max_length=200)]] = Field(min_length=1)  # --variant globs
    pip: list[Annotated[StrictStr, Field(max_length=400)]] = Field(default_factory=list)  # PEP 508 requirements
    apt: list[StrictStr] = Field(default_factory=list)
    env: dict[StrictStr, Annotated[StrictStr, Field(max_length=4000)]] = Field(default_factory=dict)
    tests: StrictStr | None = Field(default=None, min_length=1, max_length=400)  # a folder, relative to the matrix

    @field_validator("pip")
    @classmethod
    def _requirements(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                requirement = Requirement(value)
            except InvalidRequirement:
                if "://" in value or value.strip().lower().endswith((".whl", ".tar.gz", ".zip")):
                    raise ValueError(f"{shown(redact(value))} is a file or URL, not a requirement: {_by_name()}") from None
                raise ValueError(f"{value!r} is not a pip requirement like \"einops==0.8.2\"") from None
            if requirement.url:
                # A URL (https or not) installs whatever it serves that day, with no version and no hash to hold it
                # to; a file:// one reads this host. By name, pip resolves it like any dependency.
                raise ValueError(f"{requirement.name} comes from a URL: {_by_name(requirement.name)}")
        return values

    _packages = field_validator("apt")(lambda values: _package_names(values))

    @field_validator("env")
    @classmethod
    def _env_names(cls, values: dict[str, str]) -> dict[str, str]:
        for key, value in values.items():
            if not re.match(ENV_NAME, key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if key.upper() in RESERVED_ENV or key.upper().startswith(RESERVED_ENV_PREFIXES):
                raise ValueError(f"{key} belongs to the image contract (the venv, the loader, the services): "
                                 "pick another name")
            if "\n" in value or "\r" in value:
                raise ValueError(f"the value of {key} has a line break: environment values are one line")
        return values


class MatrixFile(_Strict):
    defaults: Defaults
    cuda: dict[CudaKey, CudaVersion]
    cpu_index: Url
    # The Requires-Python of every pinned package ("name==version": specifier), from its wheel's METADATA:
    # a release may list only Pythons that every pin it installs supports.
    requires_python: dict[Annotated[StrictStr, Field(pattern=PIN)], StrictStr] = Field(default_factory=dict)
    releases: list[Release] = Field(min_length=1)
    workbench: Workbench | None = None  # None: imgbuild's own (the packaged matrix's)
    images: list[TeamImage] = Field(default_factory=list)
