"""A bad matrix.yaml is refused with `file:line: what is wrong`, and nothing is written."""

import textwrap

import pytest
from imgbuild.errors import ConfigError
from imgbuild.matrix import load_matrix

GOOD = """\
defaults:
  image: pytorch
  base_image: ubuntu:24.04
  jupyterlab: "4.5.11"
  timm: "1.0.30"
  flavors: [runtime, devel]
cuda:
  "12.4":
    min_driver: "525.60.13"
    index: https://download.pytorch.org/whl/cu124
    nvcc: nvidia-cuda-nvcc-cu12
cpu_index: https://download.pytorch.org/whl/cpu
releases:
  - torch: "2.6.0"
    torchvision: "0.21.0"
    pythons: ["3.11", "3.12"]
    default_python: "3.12"
    pypi_cuda: "12.4"
    default_cuda: "12.4"
    cuda:
      "12.4": {cudnn: "9.1.0.70"}
workbench:
  system: [python3, python3-venv, tini]
"""
RELEASES = GOOD[GOOD.index("  - torch"): GOOD.index("workbench:")]


def load_text(tmp_path, text):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return load_matrix(path)


def test_the_good_matrix_loads(tmp_path):
    assert [v.id for v in load_text(tmp_path, GOOD).expand()] == [
        "2.6.0-cu124-py3.12-runtime", "2.6.0-cu124-py3.12-devel", "2.6.0-cpu-py3.12-runtime"]


CASES = [
    ("yaml syntax", GOOD.replace("flavors: [runtime, devel]", "flavors: [runtime, devel"), 7, "YAML syntax error"),
    ("unknown key", GOOD.replace("  timm:", "  timmm:"), 5, "unknown key 'timmm'"),
    ("wrong type", GOOD.replace('torch: "2.6.0"', "torch: 2.6"), 14, "wrong type at releases.0.torch"),
    ("duplicate release", GOOD.replace(RELEASES, RELEASES * 2), 22, "duplicate torch release 2.6.0"),
    ("cuda without min driver",
     GOOD.replace('      "12.4": {cudnn', '      "12.1": {cudnn: "9.1.0.70"}\n      "12.4": {cudnn'),
     21, "CUDA 12.1 has no min_driver"),
    ("missing min_driver", GOOD.replace('    min_driver: "525.60.13"\n', ""), 8, "CUDA 12.4 has no min_driver"),
    ("build without cudnn", GOOD.replace('{cudnn: "9.1.0.70"}', "{}"), 21, "CUDA build 12.4 has no cuDNN"),
    ("python without wheels", GOOD.replace('default_python: "3.12"', 'default_python: "3.12"\n    extra_pythons: ["3.8"]'),
     18, "has no wheels for Python 3.8"),
    ("unknown flavor", GOOD.replace("[runtime, devel]", "[runtime, slim]"), 6, "unknown flavor 'slim'"),
    ("default python not listed", GOOD.replace('default_python: "3.12"', 'default_python: "3.13"'), 17,
     "default Python 3.13 is not in torch 2.6.0's pythons"),
    ("empty matrix", "", 1, "the matrix is empty"),
    ("no releases", GOOD.replace(RELEASES, "").replace("releases:", "releases: []"), 13, "releases is empty"),
    ("duplicate key", GOOD.replace("  image: pytorch\n", "  image: pytorch\n  image: torch\n"), 3, "duplicate key 'image'"),
    ("default cuda not a build", GOOD.replace('default_cuda: "12.4"', 'default_cuda: "12.6"'), 19,
     "default_cuda 12.6 is not one of torch 2.6.0's builds"),
]


@pytest.mark.parametrize("text, line, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_matrix_is_refused_with_file_and_line(tmp_path, text, line, words):
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, text)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'matrix.yaml'}:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_render_of_a_bad_matrix_writes_nothing(tmp_path):
    from imgbuild.cli import app
    from typer.testing import CliRunner

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("  timm:", "  timmm:"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", "--matrix", str(bad), "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()
