"""imgbuild as users install it: the wheel into a fresh venv, run from a folder outside the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip wheel .` then `pip install dist/imgbuild-*.whl` into a new venv (what pipx and uv tool do)."""
    work = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(ROOT), cwd=work)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((work / "dist").glob("imgbuild-*.whl"))
    venv = work / "venv"
    assert run(sys.executable, "-m", "venv", str(venv), cwd=work).returncode == 0
    done = run(str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel), cwd=work)
    assert done.returncode == 0, done.stderr[-2000:]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return venv / "bin", elsewhere


def test_the_wheel_lists_the_matrix_from_any_folder(installed):
    bin_dir, elsewhere = installed
    version = run(str(bin_dir / "imgbuild"), "--version", cwd=elsewhere)
    assert version.returncode == 0 and version.stdout.startswith("imgbuild ")
    assert "site-packages/imgbuild/matrix.yaml" in version.stdout  # the packaged matrix, not the checkout's
    listed = run(str(bin_dir / "imgbuild"), "matrix", "--torch", "2.6", "--cuda", "12.4", "--json", cwd=elsewhere)
    assert listed.returncode == 0 and '"2.6.0-cu124-py3.12-runtime"' in listed.stdout


def test_the_wheel_renders_a_context_with_its_templates(installed):
    bin_dir, elsewhere = installed
    out = elsewhere / "contexts"
    # the locked test variant: its lock travels in the wheel (no ./locks here)
    rendered = run(str(bin_dir / "imgbuild"), "render", "--torch", "2.14", "--cuda", "13.0", "--python", "3.11",
                   "--flavor", "runtime", "--out", str(out), cwd=elsewhere)
    assert rendered.returncode == 0, rendered.stderr
    context = out / "2.14.1-cu130-py3.11-runtime"
    assert "FROM ubuntu:24.04" in (context / "Dockerfile").read_text()
    assert "torch==2.14.1" in (context / "lock/requirements.lock").read_text()
    assert (context / "files/bin/imgbuild-entrypoint").stat().st_mode & 0o111  # still executable


def test_the_wheel_carries_the_smoke_suite_and_no_builder_module(installed):
    bin_dir, elsewhere = installed
    probe = run(str(bin_dir / "python"), "-c",
                "import imgbuild.core.paths as p; print(sorted(x.name for x in p.SMOKETESTS.glob('test_*.py')))",
                cwd=elsewhere)
    assert probe.returncode == 0 and "test_identity.py" in probe.stdout and "site-packages" not in probe.stderr
    generic = run(str(bin_dir / "python"), "-c", "import builder", cwd=elsewhere)
    assert generic.returncode != 0 and "No module named 'builder'" in generic.stderr


def test_init_writes_a_starter_matrix_that_then_wins(installed):
    bin_dir, elsewhere = installed
    team = elsewhere / "team"
    team.mkdir()
    init = run(str(bin_dir / "imgbuild"), "init", "--torch", "2.6", "--cuda", "12.4", cwd=team)
    assert init.returncode == 0 and (team / "matrix.yaml").is_file()
    again = run(str(bin_dir / "imgbuild"), "init", cwd=team)
    assert again.returncode != 0 and "--force" in again.stderr  # never overwrites a team's edits
    version = run(str(bin_dir / "imgbuild"), "--version", cwd=team)
    assert str(team / "matrix.yaml") in version.stdout
    listed = run(str(bin_dir / "imgbuild"), "matrix", "--json", cwd=team)
    assert listed.returncode == 0 and "2.6.0-cu124" in listed.stdout and "2.14.1" not in listed.stdout
