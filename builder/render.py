"""Stage 2: Variant -> build context (a folder with the Dockerfile and every file it copies).

Templates hold the Dockerfile's shape (loops and ifs over data); the decisions live here. Rendering is
pure and deterministic: the same variant gives a byte-identical folder (dates and revisions are
build-time labels, never written into the files).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2

from .errors import ConfigError, OutputError
from .lock import Lock, load_lock, lock_command, lock_index, lock_path, read_lock
from .paths import TEMPLATES
from .tags import variant_labels
from .variant import Variant
from .workbench import workbench_labels

UV_VERSION = "0.13.9"
PIP_VERSION = "26.3"
NINJA_VERSION = "1.13.2"
USER, UID = "ml", 1000
# What the workbench tools layer leaves out (dpkg --path-exclude): manuals, translations, vim's help and cmake's
# --help-* sources, about 50 MB the workbench's size goal (< 150 MB) has no room for; `man` is not in the image.
TOOL_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                 "/usr/share/vim/vim*/doc/*", "/usr/share/vim/vim*/lang/*", "/usr/share/vim/vim*/tutor/*",
                 "/usr/share/cmake-*/Help/*")
# The Dockerfile's ENV is the one source of the image's environment; sessions (SSH, login shells) get every name of
# it but these: login and sshd set HOME and SHELL for whoever logs in; DEBIAN_FRONTEND is for the build's apt.
NOT_FOR_SESSIONS = frozenset({"DEBIAN_FRONTEND", "HOME", "SHELL"})
_ENV_PAIR = re.compile(r"(?:^ENV\s+|^\s+)([A-Za-z_][A-Za-z0-9_]*)=")


@dataclass(frozen=True)
class BuildContext:
    variant: Variant
    path: Path

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"


@functools.cache
def _template(name: str = "Dockerfile.j2") -> jinja2.Template:
    """Compiled once per process: rendering the whole matrix must stay fast."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile, not HTML
    ).get_template(name)


def template_data(variant: Variant, lock: Lock | None = None) -> dict[str, object]:
    """Everything the Dockerfile template may use: plain, sorted data."""
    devel = variant.flavor == "devel" and not variant.is_cpu
    image_env = {
        "IMGBUILD_TORCH": variant.torch,
        "IMGBUILD_CUDA": variant.cuda,
        "IMGBUILD_CUDNN": variant.cudnn or "none",
        "IMGBUILD_MIN_DRIVER": variant.min_driver or "none",
        "IMGBUILD_FLAVOR": variant.flavor,
    }
    return {
        "variant": variant,
        "base_image": variant.base_image,
        # The OS packages and the Python tools come from matrix.yaml `workbench:` (through the Variant).
        "os_packages": list(variant.system_packages),
        "tool_packages": list(variant.tool_packages),
        "tool_excludes": list(TOOL_EXCLUDES),
        "uv_version": UV_VERSION,
        "pip_version": PIP_VERSION,
        "user": USER,
        "uid": UID,
        "jupyter_requirements": [f"jupyterlab=={variant.jupyterlab}"],
        "torch_requirements": [f"torch=={variant.torch}", f"torchvision=={variant.torchvision}"],
        "devel": devel,
        "devel_requirements": devel_requirements(variant) if devel else [],
        "image_env": sorted(image_env.items()),
        "labels": sorted({**variant_labels(variant), **workbench_labels(variant), **lock_labels(lock)}.items()),
        "lock_index": lock_index(variant),
        "lock_extra": devel and bool(lock_parts(variant, lock)[1]),
    }


def devel_requirements(variant: Variant) -> list[str]:
    """nvcc and CCCL (libcu++, Thrust, CUB: cuda_fp16.h needs them) of the variant's CUDA, from NVIDIA's wheels;
    ninja, which torch.utils.cpp_extension builds with."""
    nvcc, cuda = variant.nvcc_package or "", variant.cuda
    reqs = [f"{nvcc}=={cuda}.*", f"{nvcc.replace('nvcc', 'cccl')}=={cuda}.*"]
    if int(cuda.split(".")[0]) >= 13:
        # CUDA 13 splits nvcc into wheels it requires unpinned: a newer NVVM emits PTX this ptxas rejects.
        reqs += [f"nvidia-nvvm=={cuda}.*", f"nvidia-cuda-crt=={cuda}.*"]
    return reqs + [f"ninja=={NINJA_VERSION}"]


def render_template(name: str, data: dict[str, object]) -> str:
    """Any of templates/ with the same strict environment (team.py renders Team.Dockerfile.j2 with it)."""
    return _template(name).render(data)


def render_dockerfile(variant: Variant, lock: Lock | None = None) -> str:
    """The variant's Dockerfile (a site's --base-image is already in the variant: see options.BuildFlags).
    Two passes: the first gives the ENV names, which the second hands to the step that writes session.env."""
    data = template_data(variant, lock)
    draft = _template().render({**data, "session_env": []})
    return _template().render({**data, "session_env": session_env(draft)})


def session_env(dockerfile: str) -> list[str]:
    """The names every ENV instruction of `dockerfile` sets, in order, less NOT_FOR_SESSIONS."""
    names: list[str] = []
    continued = False
    for line in dockerfile.splitlines():
        if line.startswith("ENV ") or continued:
            if (match := _ENV_PAIR.match(line)) and match[1] not in NOT_FOR_SESSIONS and match[1] not in names:
                names.append(match[1])
            continued = line.rstrip().endswith("\\")
    return names


def render(variant: Variant, out: Path, *, unlocked: bool = False) -> BuildContext:
    """Write one build context to out/<variant id>/ (a team's image: out/<team>-<variant id>/) and return it.
    The variant's lock must be there and current; `unlocked` (linting only) writes a lock that no build can
    install instead."""
    if variant.team:
        from .team import render_team

        return render_team(variant, out)
    lock = None if unlocked and not lock_path(variant).is_file() else load_lock(variant)
    path = out / variant.id
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(render_dockerfile(variant, lock), encoding="utf-8")
    _copy_tree(path / "files")
    _write_lock(path / "lock", variant, lock)
    (path / "ca-certificates").mkdir()
    (path / ".dockerignore").write_text("# the context is exactly what imgbuild rendered\n", encoding="utf-8")
    return BuildContext(variant=variant, path=path)


def render_all(variants: list[Variant], out: Path, *, force: bool = False, unlocked: bool = False) -> list[BuildContext]:
    """Render every variant into `out`, which must be empty or hold only earlier renders unless forced.

    A folder that cannot be written (in /proc, under a file, read-only, disk full) is one OutputError line."""
    ids = {v.name for v in variants}
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file: pass --out a folder")
        if out.exists() and not force:
            strangers = sorted(p.name for p in out.iterdir() if p.name not in ids)
            if strangers:
                raise ConfigError(f"{out} holds other files ({', '.join(strangers[:3])}"
                                  f"{', ...' if len(strangers) > 3 else ''}): pick an empty --out or pass --force")
        out.mkdir(parents=True, exist_ok=True)
        return [render(v, out, unlocked=unlocked) for v in variants]
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(out) else ""
        raise OutputError(f"cannot write build contexts into {out}{where}: {exc.strerror or exc}: "
                          "pass --out a folder you can write") from None



# --- the lock in the context -----------------------------------------------------------------------------

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


def _write_lock(target: Path, variant: Variant, lock: Lock | None) -> None:
    target.mkdir()
    shared, extra = lock_parts(variant, lock)
    if lock is None:  # `render --unlocked`: a requirement no index has, so a build of this context stops here
        note = f"# {variant.id} has no lock: run `{lock_command(variant)}`\n"
        (target / "requirements.lock").write_text(note, encoding="utf-8")
        (target / "requirements.txt").write_text(note + "imgbuild-variant-not-locked==0 --hash=sha256:" + "0" * 64
                                                 + "\n", encoding="utf-8")
    else:
        (target / "requirements.lock").write_text(lock.text, encoding="utf-8")
        (target / "requirements.txt").write_text("".join(p.requirement() + "\n" for p in shared), encoding="utf-8")
    (target / "extra.txt").write_text("".join(p.requirement() + "\n" for p in extra), encoding="utf-8")


@functools.cache
def _template_files() -> tuple[tuple[Path, bytes, int], ...]:
    """The files every context carries, read once: (relative path, content, mode)."""
    source = TEMPLATES / "files"
    return tuple((item.relative_to(source), item.read_bytes(), 0o755 if item.stat().st_mode & 0o111 else 0o644)
                 for item in sorted(source.rglob("*")) if item.is_file() and "__pycache__" not in item.parts)


def _copy_tree(target: Path) -> None:
    """Content and the executable bit only (no timestamps), so renders are byte-identical."""
    made: set[Path] = set()
    for relative, content, mode in _template_files():
        dest = target / relative
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.chmod(dest, mode)  # the umask must not change what the build context holds
