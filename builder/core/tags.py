"""Every tag and OCI label of a Variant: one scheme, in one place (README, "Tags")."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import Literal

from .errors import ConfigError
from .platform import platform
from .variant import Variant

LABEL_PREFIX = "io.imgbuild"
LOCAL_NAMESPACE = "imgbuild"
VARIANT_LABEL = f"{LABEL_PREFIX}.variant"
ZSTD_SUFFIX = "-zstd"
DATED = re.compile(rf"-\d{{4}}-\d{{2}}-\d{{2}}({ZSTD_SUFFIX})?$")


def build_time(env: Mapping[str, str] | None = None) -> dt.datetime:
    """Now, or $SOURCE_DATE_EPOCH when set (the reproducible-builds convention): the date tags and the
    created label read it, so a test (or a rebuild of an old night) can build as of another date."""
    env = os.environ if env is None else env
    epoch = (env.get("SOURCE_DATE_EPOCH") or "").strip()
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time: set seconds since 1970, "
                              "e.g. $(date +%s)") from None
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def fixed_time(env: Mapping[str, str] | None = None) -> bool:
    """Whether SOURCE_DATE_EPOCH fixes the build's time (a nightly, a rebuild of a published tag): only then are
    the files in the layers dated by it too. Without it a rebuild reuses every cached layer as it is."""
    return bool(((os.environ if env is None else env).get("SOURCE_DATE_EPOCH") or "").strip())


def build_date(env: Mapping[str, str] | None = None) -> dt.date:
    return build_time(env).date()


# Where a tag lives: "local" (the engine's store: one image per tag, so arm64's carry -arm64), "pushed" (one
# platform's image in a registry: in a multi-platform build every platform's carries its suffix, -amd64 too) or
# "index" (the plain tags of a multi-platform build, which name the index of every platform's image).
Where = Literal["local", "pushed", "index"]


def release_tag(v: Variant, where: Where = "local") -> str:
    """2.6.0-cuda12.4-cudnn9-runtime, 2.6.0-cpu; a non-default Python adds -py3.11, a platform its suffix (-arm64)."""
    base = f"{v.torch}-cpu" if v.is_cpu else f"{v.torch}-cuda{v.cuda}-cudnn{v.cudnn_major}-{v.flavor}"
    return base + _suffix(v, where)


def dated_tag(v: Variant, date: dt.date, where: Where = "local") -> str:
    """The immutable tag: never overwritten with another digest."""
    return f"{release_tag(v, where)}-{date.isoformat()}"


def floating_tag(v: Variant, where: Where = "local") -> str:
    """2.6-cuda12.4-runtime / 2.6-cpu: moves to the newest patch of the minor."""
    base = f"{v.torch_minor}-cpu" if v.is_cpu else f"{v.torch_minor}-cuda{v.cuda}-{v.flavor}"
    return base + _suffix(v, where)


def is_latest(v: Variant) -> bool:
    """`latest`: the newest torch, its default CUDA, runtime, default Python."""
    return v.newest and v.default_cuda and not v.is_cpu and v.flavor == "runtime" and v.default_python


def tags(v: Variant, date: dt.date, where: Where = "local") -> list[str]:
    """All tags of one build, the immutable dated tag first."""
    found = [dated_tag(v, date, where), release_tag(v, where), floating_tag(v, where),
             "latest" + _platform_suffix(v, where) if is_latest(v) else None]
    return [t for t in found if t]


def pushed_tags(v: Variant, date: dt.date) -> list[str]:
    """The tags one platform's image is pushed under: its local tags, or in a multi-platform build each with its
    platform's suffix (2.14.1-cuda13.0-cudnn9-runtime-amd64-2026-12-04), since the plain tags name the index."""
    return tags(v, date, "pushed")


def index_tags(v: Variant, date: dt.date) -> list[str]:
    """The plain tags of a multi-platform build: the OCI index of every platform's image."""
    return tags(v, date, "index")


def pushed_tag(tag: str, v: Variant) -> str:
    """A local tag of `v`'s image as it is pushed: the platform's suffix goes before the date where the local tag
    has none (linux/amd64 in a multi-platform build)."""
    extra = _platform_suffix(v, "pushed")
    if extra == _platform_suffix(v, "local") or tag.endswith(extra) or (is_dated(tag) and tag[:-11].endswith(extra)):
        return tag
    return f"{tag[:-11]}{extra}{tag[-11:]}" if is_dated(tag) else tag + extra


def is_dated(tag: str) -> bool:
    return bool(DATED.search(tag))


def zstd_tag(tag: str) -> str:
    """The tag of the same image with zstd layers (publish/zstd.py): the plain tag keeps gzip, which every engine
    pulls; Docker 23+, containerd 1.5+ and Podman read this one, and unpack it several times faster."""
    return tag + ZSTD_SUFFIX


def local_repository(v: Variant) -> str:
    return f"{LOCAL_NAMESPACE}/{v.image}"


def local_ref(v: Variant, tag: str | None = None) -> str:
    return f"{local_repository(v)}:{tag or release_tag(v)}"


def variant_labels(v: Variant) -> dict[str, str]:
    """Labels that depend only on the variant: these go into the Dockerfile (deterministic)."""
    labels = {
        "org.opencontainers.image.title": f"PyTorch {v.torch} ({'CPU' if v.is_cpu else 'CUDA ' + v.cuda}, {v.flavor})",
        "org.opencontainers.image.description": (
            f"PyTorch {v.torch}, torchvision {v.torchvision}, timm {v.timm}, Python {v.python}, "
            f"JupyterLab and SSH, non-root user"),
        "org.opencontainers.image.base.name": v.base_image,
        VARIANT_LABEL: v.id,
        f"{LABEL_PREFIX}.torch": v.torch,
        f"{LABEL_PREFIX}.torchvision": v.torchvision,
        f"{LABEL_PREFIX}.timm": v.timm,
        f"{LABEL_PREFIX}.cuda": v.cuda,
        f"{LABEL_PREFIX}.cudnn": v.cudnn or "none",
        f"{LABEL_PREFIX}.python": v.python,
        f"{LABEL_PREFIX}.flavor": v.flavor,
        f"{LABEL_PREFIX}.min-driver": v.min_driver or "none",
        f"{LABEL_PREFIX}.platform": v.platform,
    }
    return dict(sorted(labels.items()))


def build_labels(v: Variant, created: dt.datetime, revision: str, source: str) -> dict[str, str]:
    """Labels that change per build; set by the engine at build time so the Dockerfile stays byte-stable."""
    return {
        "org.opencontainers.image.created": created.isoformat(timespec="seconds"),
        "org.opencontainers.image.version": release_tag(v),
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source,
    }


def _suffix(v: Variant, where: Where) -> str:
    return ("" if v.default_python else f"-py{v.python}") + _platform_suffix(v, where)


def _platform_suffix(v: Variant, where: Where) -> str:
    if where == "index":
        return ""
    if where == "pushed" and v.multi_platform:
        return "-" + platform(v.platform).architecture
    return platform(v.platform).id_suffix


def built_from(v: Variant) -> str:
    """The image a variant's image is built FROM: the base image, or (a team's image) the variant's own image."""
    return v.kind.built_from(v, local_ref)
