"""What a base image carries that the Dockerfile meets, read from its files before the build (nothing is run in it):
the distribution, apt, the user that holds the image user's uid, Docker's apt hooks, a dpkg that leaves docs out,
and the python3 its apt installs. A base that cannot work is refused here, in one line; the rest is said in one."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ConfigError
from ..engine.daemon import Engine
from .base import PYTHON_LABEL

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
APT_GET = "/usr/bin/apt-get"
PASSWD = "/etc/passwd"
APT_HOOK = "/etc/apt/apt.conf.d/docker-clean"  # Docker's official Debian and Ubuntu images
DPKG_EXCLUDES = "/etc/dpkg/dpkg.cfg.d/excludes"  # Ubuntu's minimized images: no docs, no manuals

# The python3 each release's apt installs (the distributions' own package pages).
DISTRO_PYTHON = {("debian", "11"): "3.9", ("debian", "12"): "3.11", ("debian", "13"): "3.13",
                 ("ubuntu", "20.04"): "3.8", ("ubuntu", "22.04"): "3.10", ("ubuntu", "24.04"): "3.12",
                 ("ubuntu", "24.10"): "3.12", ("ubuntu", "25.04"): "3.13", ("ubuntu", "25.10"): "3.13"}
SUPPORTED = "Debian 12 or 13, Ubuntu 22.04 or 24.04 and newer"
SUPPORTED_RELEASES = frozenset(release for release in DISTRO_PYTHON if release[1] not in ("11", "20.04"))
FIX = f"pass --base-image with a {SUPPORTED} image (or make one from this host's apt sources: imgbuild base)"


@dataclass(frozen=True)
class BaseTraits:
    ref: str
    name: str  # PRETTY_NAME
    distro: str  # os-release ID: debian, ubuntu
    version: str  # VERSION_ID: 12, 24.04 ("" for testing and sid)
    family: tuple[str, ...]  # ID and ID_LIKE
    apt: bool
    uid_holder: str | None  # the user that holds the uid our user needs, if the base has one
    apt_hook: bool
    dpkg_excludes: bool
    python: str | None  # X.Y of the python3 its apt installs, None where not known


def read_traits(engine: Engine, ref: str, uid: int) -> BaseTraits:
    files = engine.read_files(ref, [*OS_RELEASE, APT_GET, PASSWD, APT_HOOK, DPKG_EXCLUDES])
    release = _key_values(files[OS_RELEASE[0]] or files[OS_RELEASE[1]] or b"")
    distro, version = release.get("ID", ""), release.get("VERSION_ID", "")
    info = engine.image(ref)
    python = (info.labels.get(PYTHON_LABEL) if info else None) or DISTRO_PYTHON.get((distro, version))
    return BaseTraits(ref=ref, name=release.get("PRETTY_NAME", distro or "an unknown system"), distro=distro,
                      version=version, family=(distro, *release.get("ID_LIKE", "").split()),
                      apt=files[APT_GET] is not None, uid_holder=_user_of(files[PASSWD] or b"", uid),
                      apt_hook=files[APT_HOOK] is not None, dpkg_excludes=files[DPKG_EXCLUDES] is not None,
                      python=python)


def check_base(traits: BaseTraits, python: str, user: str, uid: int) -> str:
    """Refuse a base that cannot work; else one line of what the build meets in it and what it does about it."""
    if not traits.distro:
        raise ConfigError(f"base image {traits.ref} has no /etc/os-release, so it is not a Debian or Ubuntu image "
                          f"imgbuild can build on: {FIX}")
    if not traits.apt or not {"debian", "ubuntu"} & set(traits.family):
        raise ConfigError(f"base image {traits.ref} is {traits.name}, which has no apt: imgbuild's images install "
                          f"their system packages with apt-get: {FIX}")
    said = [f"base {traits.ref}: {traits.name}"]
    if traits.uid_holder and traits.uid_holder != user:
        said.append(f"its user {traits.uid_holder} gives uid {uid} to {user}")
    if traits.apt_hook:
        said.append("Docker's apt hook kept out of the cached apt steps")
    if traits.dpkg_excludes:
        said.append("dpkg leaves docs out (licenses kept)")
    if traits.python is None:
        said.append(f"its apt's python3 is not known here: where it is not {python}, uv fetches CPython {python} "
                    "(network to GitHub)")
    elif traits.python != python:
        said.append(f"python3 is {traits.python}, so uv fetches CPython {python} (network to GitHub; offline, "
                    f"pass --python {traits.python})")
    if (traits.distro, traits.version) not in SUPPORTED_RELEASES:
        said.append(f"not a supported release ({SUPPORTED}): it may build")
    return "; ".join(said)


def _key_values(text: bytes) -> dict[str, str]:
    pairs = (line.partition("=") for line in text.decode(errors="replace").splitlines())
    return {key.strip(): value.strip().strip('"').strip("'") for key, sep, value in pairs if sep}


def _user_of(passwd: bytes, uid: int) -> str | None:
    for line in passwd.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2] == str(uid):
            return fields[0]
    return None
