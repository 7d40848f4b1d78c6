"""The CLI as a user meets it: JSON shapes, GitHub matrix, one-line errors with exit codes."""

import json

import pytest
from helpers import SMALL_MATRIX
from imgbuild.cli.app import app
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(autouse=True)
def small_matrix(monkeypatch):
    """The CLI is tested on the fixture matrix (test_matrix_data.py tests the shipped one's facts)."""
    monkeypatch.setenv("IMGBUILD_MATRIX", str(SMALL_MATRIX))


def test_matrix_json_has_every_field_on_every_variant():
    result = runner.invoke(app, ["matrix", "--json"])
    assert result.exit_code == 0
    variants = json.loads(result.stdout)["variants"]
    assert {v["torch"] for v in variants} == {"2.6.0", "2.14.1", "2.15.0"}
    for v in variants:
        assert {"id", "torch", "torchvision", "cuda", "cudnn", "python", "flavor", "min_driver", "base_image",
                "tags"} <= set(v)
        if v["cuda"] != "cpu":
            assert v["cudnn"] and v["min_driver"], v["id"]


def test_github_matrix_is_a_strategy_matrix():
    result = runner.invoke(app, ["matrix", "--github"])
    include = json.loads(result.stdout)["include"]
    assert 0 < len(include) <= 256
    assert all(isinstance(value, str) for entry in include for value in entry.values())


def test_missing_combination_is_one_line_and_exit_2(cli):
    result = cli("matrix", "--torch", "2.6", "--cuda", "12.1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "torch 2.6.0 has no CUDA 12.1 build; it has 11.8, 12.4, 12.6" in result.stderr
    assert "imgbuild matrix --torch 2.6 --cuda 12.6" in result.stderr


def test_build_selection_defaults_to_one_image():
    from imgbuild.cli.options import SelectionOptions

    variants = SelectionOptions(torch="2.6", cuda="12.4").variants(one_flavor=True)
    assert [v.id for v in variants] == ["2.6.0-cu124-py3.12-runtime"]


def test_render_command_writes_contexts(tmp_path):
    result = runner.invoke(app, ["render", "--torch", "2.14", "--cuda", "13.0", "--python", "3.11",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "2.14.1-cu130-py3.11-runtime" / "lock" / "requirements.lock").is_file()


def test_render_of_an_unlocked_variant_names_the_lock_command_unless_unlocked(tmp_path):
    args = ["render", "--torch", "2.6", "--cuda", "cpu", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exception.exit_code == 2 and "imgbuild lock --variant 2.6.0-cpu-py3.12-" in str(result.exception)
    assert runner.invoke(app, [*args, "--unlocked"]).exit_code == 0
    assert (tmp_path / "out" / "2.6.0-cpu-py3.12-runtime" / "Dockerfile").is_file()


def test_test_over_several_images_writes_one_report_per_image(tmp_path, monkeypatch):
    from imgbuild.smoke import run as smoke_run
    from imgbuild.smoke.report import SmokeCase, SmokeReport

    def passed(engine, ref, gpu, work_dir):  # the suite itself is the integration tests' business
        return SmokeReport(image=str(ref), image_id="sha256:" + "ab" * 32, variant=ref.tag or "", gpu_tier=False,
                           cases=(SmokeCase("test_identity::test_torch_version", "passed", 1.0),))

    monkeypatch.setattr(smoke_run, "smoke_test", passed)
    monkeypatch.setattr("imgbuild.engine.daemon.Engine", lambda *a, **k: None)
    junit, json_out = tmp_path / "reports" / "junit.xml", tmp_path / "reports" / "smoke.json"
    result = runner.invoke(app, ["test", "--torch", "2.6", "--junit", str(junit), "--json", str(json_out)])
    assert result.exit_code == 0, result.output
    images = [json.loads(p.read_text())["image"] for p in sorted(json_out.parent.glob("smoke.*.json"))]
    assert len(images) > 1 and len(set(images)) == len(images)  # each image's report, none overwritten
    for image in images:
        name, tag = image.split("/")[-1].split(":")
        assert json.loads((json_out.parent / f"smoke.{name}-{tag}.json").read_text())["image"] == image
        assert (junit.parent / f"junit.{name}-{tag}.xml").is_file()
    assert not json_out.exists() and not junit.exists()

    one = runner.invoke(app, ["test", "imgbuild/pytorch:2.6.0-cpu", "--json", str(tmp_path / "one.json")])
    assert one.exit_code == 0, one.output
    assert json.loads((tmp_path / "one.json").read_text())["image"] == "imgbuild/pytorch:2.6.0-cpu"  # the path given
