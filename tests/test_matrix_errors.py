"""A bad matrix.yaml is refused with `file:line: what is wrong`, one line, and nothing is written."""

import textwrap

import pytest
from imgbuild.core.errors import ConfigError
from imgbuild.matrix.load import load_matrix

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
requires_python:
  jupyterlab==4.5.11: ">=3.9"
  timm==1.0.30: ">=3.8"
  torchvision==0.21.0: ">=3.9"
releases:
  - torch: "2.6.0"
    torchvision: "0.21.0"
    pythons: ["3.11", "3.12"]
    default_python: "3.12"
    pypi_cuda: "12.4"
    default_cuda: "12.4"
    cuda:
      "12.4": {cudnn: "9.1.0.70"}
"""
RELEASE = GOOD[GOOD.index("  - torch"):]
CUDA_12_6 = '  "12.6":\n    min_driver: "525.60.13"\n    index: https://download.pytorch.org/whl/cu126\n    nvcc: x\n'


IMAGE = 'images:\n  - name: vision\n    variants: ["2.6.0-*"]\n    pip: ["einops==0.8.2"]\n'
WORKBENCH = 'workbench:\n  system: [tini]\n  python:\n    tensorboard: "2.21.0"\n'


def load_text(tmp_path, text):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return load_matrix(path)


def test_the_good_matrix_loads(tmp_path):
    assert [v.id for v in load_text(tmp_path, GOOD).expand()] == [
        "2.6.0-cu124-py3.12-runtime", "2.6.0-cu124-py3.12-devel", "2.6.0-cpu-py3.12-runtime"]


def sub(old, new, count=1):
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


# (name, bad text, the line at fault (the last that holds this text; =text: the line that is this text), words)
CASES = [
    ("yaml syntax", sub("flavors: [runtime, devel]", "flavors: [runtime, devel"), "=cuda:", "YAML syntax error"),
    ("unknown key", sub("  timm:", "  timmm:"), "timmm", "unknown key 'timmm'"),
    ("wrong type", sub('torch: "2.6.0"', "torch: 2.6"), "torch: 2.6", "wrong type at releases.0.torch"),
    ("duplicate release", GOOD + RELEASE, '- torch: "2.6.0"', "duplicate torch release 2.6.0 (line 18)"),
    ("same release spelt twice", GOOD + RELEASE.replace('"2.6.0"', '"2.6.0.0"'), '"2.6.0.0"',
     "torch 2.6.0.0 is the same release as 2.6.0 (line 18)"),
    ("two patches of one minor", GOOD + RELEASE.replace('"2.6.0"', '"2.6.1"'), '"2.6.1"',
     "torch 2.6.1 and 2.6.0 are both 2.6: the floating tags would name two images"),
    ("cuda without min driver", sub('      "12.4": {cudnn', '      "12.1": {cudnn: "9.1.0.70"}\n      "12.4": {cudnn'),
     '"12.1": {cudnn', "CUDA 12.1 has no min_driver"),
    ("missing min_driver", sub('    min_driver: "525.60.13"\n', ""), '="12.4":', "CUDA 12.4 has no min_driver"),
    ("build without cudnn", sub('{cudnn: "9.1.0.70"}', "{}"), '"12.4": {}', "CUDA build 12.4 has no cuDNN"),
    ("python without wheels", sub('default_python: "3.12"', 'default_python: "3.12"\n    extra_pythons: ["3.10"]'),
     "extra_pythons", "has no wheels for Python 3.10"),
    ("unknown flavor", sub("[runtime, devel]", "[runtime, slim]"), "flavors", "unknown flavor 'slim'"),
    ("flavor twice", sub("[runtime, devel]", "[runtime, runtime, devel]"), "flavors",
     "flavor runtime is listed twice in flavors (items 1 and 2)"),
    ("python twice", sub('pythons: ["3.11", "3.12"]', 'pythons: ["3.11", "3.12", "3.11"]'), "pythons:",
     "Python 3.11 is listed twice in pythons"),
    ("default python not listed", sub('default_python: "3.12"', 'default_python: "3.13"'), "default_python",
     "default Python 3.13 is not in torch 2.6.0's pythons"),
    ("empty matrix", "", None, "the matrix is empty"),
    ("no releases", GOOD[: GOOD.index("releases:")] + "releases: []\n", "releases:", "releases is empty"),
    ("duplicate key", sub("  image: pytorch\n", "  image: pytorch\n  image: torch\n"), "image: torch",
     "duplicate key 'image'"),
    ("default cuda not a build", sub('default_cuda: "12.4"', 'default_cuda: "12.6"'), "default_cuda",
     "default_cuda 12.6 is not one of torch 2.6.0's builds"),
    ("cuda key not a version", sub('  "12.4":\n    min', '  "12.x":\n    min'), '"12.x":',
     "cuda.12.x: '12.x' is not a CUDA version like \"12.4\""),
    ("cuda key with leading zero", sub('      "12.4": {cudnn', '      "12.04": {cudnn'), '"12.04"',
     "is not a CUDA version"),
    ("two cuda keys, one tag", sub("cpu_index:", CUDA_12_6.replace('"12.6"', '"1.24"') + "cpu_index:"), '"1.24":',
     "CUDA 1.24 and 12.4 would both be cu124 in variant ids"),
    ("version with thousands of digits", sub('torch: "2.6.0"', 'torch: "2.6.' + "9" * 400 + '"'), "torch:",
     "releases.0.torch: '2.6.99999"),
    ("version with Unicode digits", sub('torch: "2.6.0"', 'torch: "٢.٦.٠"'), "torch:", "is not a version like"),
    ("newline in a package name", sub("nvcc: nvidia-cuda-nvcc-cu12", 'nvcc: "x\\nRUN curl evil"'), "nvcc:",
     "is not a pip package name"),
    ("python the pins do not support", sub('pythons: ["3.11", "3.12"]', 'pythons: ["3.8", "3.11", "3.12"]'), "pythons:",
     "torch 2.6.0 lists Python 3.8, but jupyterlab==4.5.11 needs Python >=3.9: drop 3.8 from pythons"),
    ("pin without requires_python", sub('  timm==1.0.30: ">=3.8"\n', ""), "timm:",
     "no Requires-Python recorded for timm==1.0.30"),
    ("requires_python not a specifier", sub('">=3.8"', '"at least 3.8"'), "timm==",
     "timm==1.0.30: 'at least 3.8' is not a Requires-Python specifier"),
    ("requires_python key not a pin", sub("  timm==1.0.30:", "  timm 1.0.30:"), "timm 1.0.30",
     "is not a pin like \"jupyterlab==4.5.11\""),
    # each in plain words: the field, the entry, what it may hold and the fix; never pydantic's pattern or length
    ("tab in the indentation", sub("  timm:", "\ttimm:"), "timm:",
     "a tab character: YAML indents with spaces only, replace the tab with spaces"),
    ("no space after a colon", sub('timm: "1.0.30"', 'timm:"1.0.30"'), "timm:", "write key: value, with a space after"),
    ("a quote left open", sub('{cudnn: "9.1.0.70"}', '{cudnn: "9.1.0.70}\n'), "cudnn", "a quote is left open: close it"),
    ("a value starting with @", sub("image: pytorch", "image: @pytorch"), "@pytorch", "quote a value that starts with @"),
    ("team name too long", GOOD + IMAGE.replace("vision", "v" * 120), "v" * 120,
     ("images.0.name: 'vvvvvvvvv", "has 120 characters, over the 100 allowed: shorten it")),
    ("empty variant pattern", GOOD + IMAGE.replace('["2.6.0-*"]', '[""]'), "variants:",
     "images.0.variants.0 (image vision) is an empty string: write a --variant pattern like \"2.6.0-*\", or remove it"),
    ("variant pattern too long", GOOD + IMAGE.replace('"2.6.0-*"', '"' + "x" * 201 + '"'), "variants:",
     ("images.0.variants.0 (image vision): 'xxx", "has 201 characters, over the 200 allowed: shorten it")),
    ("workbench package version", GOOD + WORKBENCH.replace('"2.21.0"', "latest"), "tensorboard:",
     "workbench.python.tensorboard: 'latest' is not a version like \"2.21.0\": correct it"),
    ("workbench package name", GOOD + WORKBENCH.replace("tensorboard:", "tensor board!:"), "tensor board!:",
     "'tensor board!' is not a pip package name like tensorboard"),
    ("arm64 build not a build", sub('      "12.4": {cudnn: "9.1.0.70"}\n', '      "12.4": {cudnn: "9.1.0.70"}\n'
                                    '    platforms: {"linux/arm64": [cu124]}\n'), "platforms:",
     "releases.0.platforms.linux/arm64.0 (torch 2.6.0): 'cu124' is not one of the release's builds: a CUDA version"),
    ("platform not arm64", sub('      "12.4": {cudnn: "9.1.0.70"}\n', '      "12.4": {cudnn: "9.1.0.70"}\n'
                               '    platforms: {"linux/s390x": [cpu]}\n'), "platforms:",
     "releases.0.platforms.linux/s390x (torch 2.6.0): 'linux/s390x' is not 'linux/arm64'"),
    ("cpu index over plain http", sub("cpu_index: https://", "cpu_index: http://"), "cpu_index:",
     "plain http:// to download.pytorch.org, which anyone on the way can answer with other wheels: use https://"),
    ("cuda index over plain http", sub("index: https://download.pytorch.org/whl/cu124", "index: http://mirror/cu124"),
     "index: http://", "plain http:// to mirror"),
    ("http to a host named like loopback", sub("cpu_index: https://", "cpu_index: http://127.evil.example"),
     "cpu_index:", "plain http:// to 127.evil.exampledownload.pytorch.org"),
]


def line_of(text, needle):
    if needle is None:
        return 1
    lines = textwrap.dedent(text).splitlines()
    if needle.startswith("="):  # the line that is exactly this
        return lines.index(needle[1:]) + 1 if needle[1:] in lines else [x.strip() for x in lines].index(needle[1:]) + 1
    return max(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.mark.parametrize("text, needle, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_matrix_is_refused_with_file_and_line(tmp_path, text, needle, words):
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, text)
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'matrix.yaml'}:{line_of(text, needle)}: "), message
    assert all(w in message for w in words) if isinstance(words, tuple) else words in message
    assert "\n" not in message and len(message) < 300
    assert "should match" not in message and "String should" not in message  # pydantic's own words name no fix


@pytest.mark.parametrize("host", ["localhost:3141", "127.0.0.1", "127.8.9.10:8080", "[::1]:3141", "LOCALHOST"])
def test_plain_http_is_allowed_to_a_mirror_on_this_machine(tmp_path, host):
    [v, *_] = load_text(tmp_path, sub("cpu_index: https://download.pytorch.org", f"cpu_index: http://{host}")).expand()
    assert v.id == "2.6.0-cu124-py3.12-runtime"


def test_render_of_a_bad_matrix_writes_nothing(tmp_path):
    from imgbuild.cli.app import app
    from typer.testing import CliRunner

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("  timm:", "  timmm:"))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", "--matrix", str(bad), "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()
