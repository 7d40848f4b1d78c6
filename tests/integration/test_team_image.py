"""A team's image, built offline on top of the session's test image: one pip extra from a local wheelhouse (a tiny
wheel made here), one apt extra from Debian's mirror; the extras are there, torch is not moved, `imgbuild test`
runs the team's own checks, and an extra that would move torch fails the build instead of moving it."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from conftest import TEST_VARIANT
from helpers import ROOT, docker, imgbuild

TEAM, REF = "imgbuild-test-team", "imgbuild/imgbuild-test-team:2.14.1-cuda13.0-cudnn9-runtime"
TEAM_TEST = '''
import os
import imgbuild_team_probe


def test_the_team_package_and_env():
    assert imgbuild_team_probe.VALUE == 42 and os.environ["TEAM_GREETING"] == "hello team"
'''


def make_wheel(folder: Path, name: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: module `name` with VALUE = 42, version 1.0."""
    dist = f"{name}-1.0.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 42\n",
             f"{dist}/METADATA": "Metadata-Version: 2.1\nName: " + name.replace("_", "-") + "\nVersion: 1.0\n"
             + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: imgbuild-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for path, text in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def team_matrix(folder: Path, pip: list[str], apt: list[str], tests: bool = True, name: str = TEAM) -> Path:
    entry = {"name": name, "variants": ["2.14.1-cu130-py3.11-runtime"], "pip": pip, "apt": apt,
             "env": {"TEAM_GREETING": "hello team"}}
    if tests:
        (folder / "teams" / name).mkdir(parents=True)
        (folder / "teams" / name / "test_team_probe.py").write_text(TEAM_TEST)
        entry["tests"] = f"teams/{name}"
    path = folder / "matrix.yaml"
    path.write_text((ROOT / "matrix.yaml").read_text().replace("images: []\n", "images: " + json.dumps([entry]) + "\n"))
    return path


def build_team(matrix: Path, wheelhouse: Path, base_image, ca_cert, name: str = TEAM):
    return imgbuild("build", "--matrix", str(matrix), *TEST_VARIANT, "--image", name, "--base-image", base_image,
                    "--ca-cert", str(ca_cert), "--wheelhouse", str(wheelhouse), "--network", "host")


def remove_repository(repository: str) -> None:
    refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    if refs:
        docker("rmi", "-f", *refs)


@pytest.fixture(scope="module")
def team_image(runtime_image, base_image, ca_cert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    wheels = folder / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "imgbuild_team_probe")
    result = build_team(team_matrix(folder, ["imgbuild-team-probe==1.0"], ["jq"]), wheels, base_image, ca_cert)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert REF in result.stdout and "imgbuild/pytorch" not in result.stdout  # only the team's image was built
    yield REF
    remove_repository(f"imgbuild/{TEAM}")


def python_in(image: str, code: str) -> str:
    result = docker("run", "--rm", "--network", "host", image, "python", "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_team_image_has_its_extras(team_image):
    assert python_in(team_image, "import imgbuild_team_probe; print(imgbuild_team_probe.VALUE)") == "42"
    jq = docker("run", "--rm", "--network", "host", team_image, "bash", "-c", "echo '{\"a\": 7}' | jq .a; id -u")
    assert jq.stdout.split() == ["7", "1000"], jq.stderr
    assert python_in(team_image, "import os; print(os.environ['TEAM_GREETING'])") == "hello team"


def test_torch_and_every_layer_below_are_the_variants(team_image, runtime_image):
    pins = ("import importlib.metadata as m; print(sorted(f'{d.name}=={d.version}' for d in m.distributions() "
            "if d.name.lower().startswith(('torch', 'nvidia', 'triton', 'cuda', 'timm'))))")
    assert python_in(team_image, pins) == python_in(runtime_image, pins)

    def layers(ref):
        return json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout)

    base, team = layers(runtime_image), layers(team_image)
    assert team[:len(base)] == base and len(team) > len(base)
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", team_image).stdout)
    assert labels["io.imgbuild.torch"] == "2.14.1" and labels["io.imgbuild.image"] == TEAM


def test_imgbuild_test_runs_the_standard_suite_the_import_check_and_the_teams_tests(team_image, tmp_path):
    report = tmp_path / "smoke.json"
    result = imgbuild("test", team_image, "--gpu", "no", "--json", str(report))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    cases = {c["name"]: c["outcome"] for c in json.loads(report.read_text())["cases"]}
    assert cases["test_identity::test_torch_version"] == "passed"
    assert cases["test_team::test_pip_extra_is_installed_and_imports[imgbuild-team-probe==1.0]"] == "passed"
    assert cases["test_team::test_apt_extra_is_installed[jq]"] == "passed"
    assert cases["team::test_team_probe::test_the_team_package_and_env"] == "passed"


def test_an_extra_that_needs_another_torch_fails_the_build_and_moves_nothing(team_image, base_image, ca_cert,
                                                                              tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "imgbuild_torch_mover", requires=("torch==2.13.0",))
    name = "imgbuild-test-mover"
    result = build_team(team_matrix(tmp_path, ["imgbuild-torch-mover==1.0"], [], tests=False, name=name), wheels,
                        base_image, ca_cert, name=name)
    try:
        assert result.returncode == 4, (result.stdout + result.stderr)[-3000:]
        error = result.stderr.splitlines()[-1]
        assert error == (f"imgbuild: error: image {name}: imgbuild-torch-mover 1.0 depends on torch==2.13.0, but the "
                         "variant keeps torch==2.14.1 (torch, torchvision, timm, Triton and the CUDA wheels never move): "
                         "pin a version of that extra made for torch 2.14.1"), result.stderr
        assert docker("image", "inspect", f"imgbuild/{name}:2.14.1-cuda13.0-cudnn9-runtime").returncode != 0
    finally:
        remove_repository(f"imgbuild/{name}")


def test_an_extra_named_torch_is_refused_before_building(tmp_path):
    result = imgbuild("build", "--matrix", str(team_matrix(tmp_path, ["torch==2.13.0"], [], tests=False)),
                      *TEST_VARIANT, "--image", TEAM)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "'torch==2.13.0' is refused" in result.stderr and "building" not in result.stdout + result.stderr
