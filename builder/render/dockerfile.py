"""The Dockerfile of a variant's own image, from templates/Dockerfile.j2.

Templates hold the Dockerfile's shape (loops and ifs over data); the decisions live here. Rendering is
pure and deterministic: the same variant gives byte-identical text (dates and revisions are build-time
labels, never written into the files)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import replace

import jinja2

from ..core.errors import ConfigError
from ..core.paths import TEMPLATES
from ..core.tags import variant_labels
from ..core.variant import Variant
from ..lock.lockfile import Lock, devel_requirements, lock_index, lock_path, read_lock
from ..matrix.workbench import LABEL_OS, LABEL_PYTHON

UV_VERSION = "0.13.9"


PIP_VERSION = "26.3"

# NVIDIA's library wheels go here, outside any Python: one layer per wheel, the same in every variant that pins it.
CUDA_PREFIX = "/opt/cuda-libs"
# torch's layer: what is built for one torch release (CUDA's Python bindings, cuda-*, go with it)
TORCH_LAYER = frozenset({"torch", "torchvision", "torchaudio", "triton", "pytorch-triton"})


from ..core.contract import FIXED_MTIME, UID, USER  # noqa: E402  (re-exported for team.py)

# What the workbench tools layer leaves out (dpkg --path-exclude): manuals, translations, vim's help and cmake's
# --help-* sources, about 50 MB the workbench's size goal (< 150 MB) has no room for; `man` is not in the image.
TOOL_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                 "/usr/share/vim/vim*/doc/*", "/usr/share/vim/vim*/lang/*", "/usr/share/vim/vim*/tutor/*",
                 "/usr/share/cmake-*/Help/*")


# The Dockerfile's ENV is the one source of the image's environment; sessions (SSH, login shells) get every name of
# it but these: login and sshd set HOME and SHELL for whoever logs in; DEBIAN_FRONTEND is for the build's apt.
NOT_FOR_SESSIONS = frozenset({"DEBIAN_FRONTEND", "HOME", "SHELL"})
# The fixed ENV blocks, as the template writes them (env_blocks adds the variant's own, last).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ENV_START = (("LANG", "C.UTF-8"), ("PYTHONUNBUFFERED", "1"), ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
             ("PIP_ROOT_USER_ACTION", "ignore"))
ENV_CERTS = (("SSL_CERT_FILE", CA_BUNDLE), ("PIP_CERT", CA_BUNDLE), ("REQUESTS_CA_BUNDLE", CA_BUNDLE))
ENV_UV = (("UV_PYTHON_INSTALL_DIR", "/opt/python"), ("UV_PYTHON_PREFERENCE", "system"), ("UV_SYSTEM_CERTS", "1"),
          ("VIRTUAL_ENV", "/opt/venv"), ("PATH", "/opt/venv/bin:$PATH"))
ENV_DEVEL = (("CUDA_HOME", "/usr/local/cuda"), ("PATH", "/usr/local/cuda/bin:$PATH"))


@functools.cache
def _template(name: str = "Dockerfile.j2") -> jinja2.Template:
    """Compiled once per process: rendering the whole matrix must stay fast."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile, not HTML
    )
    environment.filters["quoted"] = quoted
    return environment.get_template(name)


def quoted(value: object) -> str:
    """The one escape of a value into a Dockerfile: a double-quoted word that says the value exactly (no variable is
    expanded in it, no quote or backslash ends it). A line break is refused, never escaped: no checked value has one."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"a line break in {text[:40]!r} cannot go into a Dockerfile: write it on one line")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def template_data(variant: Variant, lock: Lock | None = None) -> dict[str, object]:
    """Everything the Dockerfile template may use: plain, sorted data."""
    devel = variant.flavor == "devel" and not variant.is_cpu
    env = env_blocks(variant, devel)
    return {
        "variant": variant,
        "base_image": variant.base_image,
        # The OS packages and the Python tools come from matrix.yaml `workbench:` (through the Variant).
        "os_packages": list(variant.system_packages),
        "tool_packages": list(variant.tool_packages),
        "tool_dpkg_options": [f'-o "Dpkg::Options::=--path-exclude={path}"' for path in TOOL_EXCLUDES]
                             + ['-o "Dpkg::Options::=--path-include=/usr/share/doc/*/copyright"'],
        "cache_key": cache_key(variant.base_image),
        "uv_version": UV_VERSION,
        "pip_version": PIP_VERSION,
        "user": USER,
        "uid": UID,
        "devel": devel,
        "devel_requirements": devel_requirements(variant) if devel else [],
        **env,
        "session_env": session_env(env),
        "labels": sorted({**variant_labels(variant), **workbench_labels(variant), **lock_labels(lock)}.items()),
        "lock_index": lock_index(variant),
        "lock_extra": devel and bool(lock_parts(variant, lock)[1]),
        "cuda_layers": [name for name, _ in cuda_layers(lock_parts(variant, lock)[0])],
        # no lock (`render --unlocked`): packages.txt holds a pin no index has, so the build stops there
        "python_layers": [name for name, _ in python_layers(lock_parts(variant, lock)[0])] or ["packages"],
        "cuda_prefix": CUDA_PREFIX,
        "fixed_mtime": FIXED_MTIME,
    }


def cache_key(base_image: str) -> str:
    """The base image as a cache mount's id: apt's lists and .debs of one distribution never mix with another's."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", base_image)


def render_template(name: str, data: dict[str, object]) -> str:
    """Any of templates/ with the same strict environment (team.py renders Team.Dockerfile.j2 with it)."""
    return _template(name).render(data)


def render_dockerfile(variant: Variant, lock: Lock | None = None) -> str:
    """The variant's Dockerfile (a site's --base-image is already in the variant: see options.BuildFlags)."""
    return _template().render(template_data(variant, lock))


def env_blocks(variant: Variant, devel: bool) -> dict[str, list[tuple[str, str]]]:
    """Every ENV instruction of the Dockerfile as (name, value) pairs, in the order the template writes them; the
    variant's own block last (devel's is empty elsewhere, and the template leaves it out)."""
    own = {"IMGBUILD_TORCH": variant.torch, "IMGBUILD_CUDA": variant.cuda, "IMGBUILD_CUDNN": variant.cudnn or "none",
           "IMGBUILD_MIN_DRIVER": variant.min_driver or "none", "IMGBUILD_FLAVOR": variant.flavor}
    return {"env_start": list(ENV_START), "env_certs": list(ENV_CERTS), "env_uv": list(ENV_UV),
            "env_devel": list(ENV_DEVEL) if devel else [],
            "env_image": [("HOME", f"/home/{USER}"), ("SHELL", "/bin/bash"), ("JUPYTER_PORT", "8888"), ("SSH_PORT", "22"),
                          ("TENSORBOARD_LOGDIR", "/workspace/logs"), *sorted(own.items()),
                          ("IMGBUILD_VARIANT", variant.id)]}


def session_env(blocks: dict[str, list[tuple[str, str]]]) -> list[str]:
    """The names the ENV blocks set, in order, less NOT_FOR_SESSIONS: what the step that writes session.env lists."""
    names: list[str] = []
    for pairs in blocks.values():
        names += [name for name, _ in pairs if name not in NOT_FOR_SESSIONS and name not in names]
    return names


def workbench_labels(variant: Variant) -> dict[str, str]:
    """What the in-image suite checks: every OS package (system and tools) and every pinned Python tool."""
    return {LABEL_OS: json.dumps(sorted(variant.system_packages + variant.tool_packages), separators=(",", ":")),
            LABEL_PYTHON: json.dumps(list(variant.python_tools), separators=(",", ":"))}


def lock_labels(lock: Lock | None) -> dict[str, str]:
    """The lock's digest and its pins (no hashes): `imgbuild diff` reads them from the registry's config."""
    if lock is None:
        return {"io.imgbuild.lock.digest": "none"}
    pins = " ".join(f"{p.name}=={p.version}" for p in lock.pins)
    return {"io.imgbuild.lock.digest": lock.digest, "io.imgbuild.packages": pins}


def lock_parts(variant: Variant, lock: Lock | None) -> tuple[list, list]:
    """(shared, extra) pins. A devel image installs first the pins its runtime sibling's lock has at the same
    version, as the same file, so the pair shares that (torch) layer; then the devel extras."""
    pins = list(lock.pins) if lock else []
    if variant.flavor != "devel" or not pins:
        return pins, []
    sibling = lock_path(replace(variant, flavor="runtime"))
    runtime = set(read_lock(sibling).pins) if sibling.is_file() else set(pins)
    return [p for p in pins if p in runtime], [p for p in pins if p not in runtime]


def cuda_layers(pins: list) -> list[tuple[str, list]]:
    """NVIDIA's CUDA library wheels, one layer each, by name: the same pin gives the same layer in every variant."""
    return [(p.name, [p]) for p in sorted(pins, key=lambda p: p.name) if p.name.startswith("nvidia-")]


def python_layers(pins: list) -> list[tuple[str, list]]:
    """The rest of the shared pins in two layers, torch's own first (it changes with the torch release), each left
    out when it would be empty."""
    rest = [p for p in pins if not p.name.startswith("nvidia-")]
    layers = [("torch", [p for p in rest if p.name in TORCH_LAYER or p.name.startswith("cuda-")]),
              ("packages", [p for p in rest if p.name not in TORCH_LAYER and not p.name.startswith("cuda-")])]
    return [(name, part) for name, part in layers if part]
