"""The nightly's plan against today's matrix and locks, its runners, its chunks at scale; the release records of
variants without a lock and of the GPU tier (no daemon: plain values in, files out)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from helpers import ROOT
from imgbuild.cli.app import app
from imgbuild.core.choices import GpuMode
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import RegistryRef
from imgbuild.engine.daemon import Engine
from imgbuild.matrix.load import load_matrix
from imgbuild.plan.nightly import MATRIX_LIMIT, Runners, chunks, job, layout, unlocked_ids
from imgbuild.release.manifest import SmokeSummary, not_locked_entry
from imgbuild.release.releasefile import GPU_REPORT, merge_releases, with_gpu_reports
from typer.testing import CliRunner

sys.path.insert(0, str(ROOT / "bench"))
from matrix_scale import generated_matrix  # noqa: E402

MATRIX = load_matrix(ROOT / "matrix.yaml")


def plan(*args: str, env: dict | None = None) -> dict:
    result = CliRunner().invoke(app, ["plan", "--matrix", str(ROOT / "matrix.yaml"), *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_plan_covers_the_whole_matrix_and_every_pypi_variant_is_locked() -> None:
    include = plan()["include"]
    variants = MATRIX.expand()
    assert [e["variant"] for e in include] == [v.id for v in variants]  # nothing left out, locked or not
    carried = {v.id for v in variants if v.pypi_carries}
    assert len(carried) >= 34
    locked = {e["variant"] for e in include if e["locked"] == "yes"}
    assert carried <= locked, sorted(carried - locked)  # the repo holds a current lock for each of them
    assert all(e["locked"] in ("yes", "no") for e in include)


def test_an_unlocked_variant_is_named_on_stderr_with_the_lock_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "--torch", "2.9", "--cuda", "12.8", "--flavor", "runtime"],
                                env={"IMGBUILD_LOCKS": str(tmp_path)})
    assert result.exit_code == 0, result.output
    include = json.loads(result.stdout)["include"]
    assert include and all(e["locked"] == "no" for e in include)  # planned all the same
    assert "no current lock: their jobs fail tonight" in result.stderr and "imgbuild lock --variant" in result.stderr


def test_runners_come_from_configuration() -> None:
    cuda = next(v for v in MATRIX.expand() if not v.is_cpu and v.flavor == "devel")
    cpu = next(v for v in MATRIX.expand() if v.is_cpu)
    hosted = job(cuda, Runners.parse(""), set())
    assert hosted["runs_on"] == "ubuntu-latest" and hosted["gpu_runs_on"] == ""  # no GPU runner: CPU-tested
    team = Runners.parse('{"gpu": ["self-hosted", "linux", "gpu"], "large": "big-disk"}')
    assert job(cuda, team, set())["gpu_runs_on"] == ["self-hosted", "linux", "gpu"]
    assert job(cpu, team, set())["gpu_runs_on"] == ""  # a CPU build has no GPU tier
    assert job(cpu, team, set())["runs_on"] == "ubuntu-latest"
    for text in ("{", "[]", '{"gpus": "x"}', '{"gpu": ""}', '{"gpu": []}', '{"gpu": [1]}'):
        with pytest.raises(ConfigError, match="IMGBUILD_RUNNERS"):
            Runners.parse(text)
    for text in ('{"gpu": "gpu\\nbox"}', '{"large": ["self-hosted", "big\\r"]}', '{"arm": "a\\u0000b"}',
                 '{"standard": "x\\tz"}', '{"gpu": "a\\u2028b"}'):
        with pytest.raises(ConfigError, match=r"IMGBUILD_RUNNERS\.\w+ label .* control character: write each label"):
            Runners.parse(text)
    assert Runners.parse('{"gpu": "gpu box-1.x"}').gpu == "gpu box-1.x"  # a space is printable


def test_gpu_jobs_are_only_locked_cuda_variants_on_the_gpu_runner() -> None:
    env = {"IMGBUILD_RUNNERS": '{"gpu": "gpu-box"}'}
    everything = plan(env=env)["include"]
    gpu = plan("--gpu-jobs", env=env)["include"]
    assert gpu and {e["variant"] for e in gpu} == {e["variant"] for e in everything
                                                   if e["cuda"] != "cpu" and e["locked"] == "yes"}
    assert all(e["gpu_runs_on"] == "gpu-box" for e in gpu)


def test_chunks_hold_at_most_256_and_keep_the_order() -> None:
    variants = MATRIX.expand()
    pieces = chunks(variants, 50)
    assert [v for p in pieces for v in p] == variants and max(map(len, pieces)) == 50
    with pytest.raises(ConfigError):
        chunks(variants, MATRIX_LIMIT + 1)
    assert plan("--chunk-size", "50", "--chunk", "2")["include"][0]["variant"] == variants[100].id
    result = CliRunner().invoke(app, ["plan", "--chunk", "3"])
    assert isinstance(result.exception, ConfigError) and "chunks 0 to 0" in str(result.exception)


@pytest.mark.slow
def test_the_9000_release_scale_matrix_is_cut_into_parts_of_256_matrices(tmp_path: Path, monkeypatch, cli) -> None:
    """The 90,000-variant plan is made once (it takes seconds): its layout as printed, and the chunks it was cut from
    (what `--chunk K` prints one of)."""
    from imgbuild.plan import nightly

    path = tmp_path / "matrix.yaml"
    path.write_text(generated_matrix(9000), encoding="utf-8")
    cut, chunks_of = [], nightly.chunks
    monkeypatch.setattr(nightly, "chunks", lambda *args: cut.append(chunks_of(*args)) or cut[-1])
    found = cli("plan", "--matrix", str(path), "--layout", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    layout_ = json.loads(found.stdout)
    assert layout_["variants"] == 90_000 and layout_["chunks"] == 352  # ceil(90,000 / 256)
    assert [len(p) for p in layout_["parts"]] == [256, 96]  # a run's chunk matrix is a matrix too: <= 256
    assert len(cut[0][351]) == 90_000 - 351 * 256


def test_a_plan_of_more_than_one_matrix_is_printed_one_chunk_at_a_time(tmp_path: Path, cli) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(generated_matrix(30), encoding="utf-8")  # 300 variants: two chunks
    too_many = cli("plan", "--matrix", str(path), cwd=tmp_path)
    assert too_many.returncode != 0 and "--layout" in too_many.stderr
    last = cli("plan", "--matrix", str(path), "--chunk", "1", cwd=tmp_path)
    assert len(json.loads(last.stdout)["include"]) == 300 - 256


def test_layout_counts_what_is_not_locked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGBUILD_LOCKS", str(tmp_path))
    variants = MATRIX.expand()[:10]
    plan = layout(variants, unlocked_ids(variants))
    assert plan["not_locked"] == 10 and plan["parts"] == [[0]]


def test_a_release_of_an_unlocked_variant_builds_nothing_and_records_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from imgbuild.build.options import BuildOptions
    from imgbuild.core.output import Reporter
    from imgbuild.registry.target import RegistryTarget
    from imgbuild.release.pipeline import ReleasePlan, release

    monkeypatch.setenv("IMGBUILD_LOCKS", str(tmp_path / "locks"))
    variant = next(v for v in MATRIX.expand() if v.pypi_carries)
    engine = mock.create_autospec(Engine, instance=True)
    target = RegistryTarget.open("127.0.0.1:9/team")
    outcome = release(ReleasePlan(variants=(variant,), target=target, options=BuildOptions(), gpu=GpuMode.no,
                                  out=tmp_path / "out"), engine, Reporter())
    assert engine.method_calls == []  # no registry, disk or base-image check, no build: nothing to build
    [entry] = outcome.entries
    assert entry.status == "not-locked" and entry.outcome == "not locked"
    assert outcome.lock_commands == (f"imgbuild lock --variant {variant.id}",)
    assert f"imgbuild lock --variant {variant.id}" in entry.error
    record = json.loads(outcome.manifest.read_text())["images"][0]
    assert record["status"] == "not-locked" and record["digest"] is None
    text = outcome.catalog.read_text()
    assert "## Not locked (nothing built)" in text and "0 built, 0 unchanged, 0 failed, 1 not locked" in text


def test_the_catalog_takes_the_gpu_tier_from_the_gpu_runners_report(tmp_path: Path) -> None:
    variant = next(v for v in MATRIX.expand() if not v.is_cpu)
    digest = "sha256:" + "ef" * 32
    cpu = SmokeSummary(passed=True, counts={"passed": 20, "failed": 0, "skipped": 4}, figures={}, gpu_tier=False,
                       seconds=90.0)
    # pushed, so its repository names the registry the GPU runner's report names
    published = replace(not_locked_entry(variant, RegistryRef.parse("ghcr.io/team"), "x"), status="ok", error=None,
                        digest=digest, smoke=cpu)
    other = replace(published, variant="other", digest="sha256:" + "01" * 32)
    (tmp_path / "release-a").mkdir()
    (tmp_path / "release-a" / "release.json").write_text(json.dumps(
        {"generated": "2026-12-04T02:17:00", "images": [published.to_json(), other.to_json()]}))
    entries = merge_releases(tmp_path)
    assert [e.tier for e in entries] == ["CPU", "CPU"]  # hosted runners only: CPU-tested
    report = {"image": f"ghcr.io/team/pytorch@{digest}", "image_id": "sha256:" + "cd" * 32, "passed": True,
              "gpu_tier": True, "counts": {"passed": 24, "failed": 0, "skipped": 0}, "figures": {}, "seconds": 120}
    (tmp_path / "release-gpu-a").mkdir()
    (tmp_path / "release-gpu-a" / GPU_REPORT).write_text(json.dumps(report))
    tiers = {e.variant: e.tier for e in with_gpu_reports(entries, tmp_path)}
    assert tiers == {variant.id: "GPU", "other": "CPU"}  # only the digest the GPU runner tested
    (tmp_path / "release-gpu-a" / GPU_REPORT).write_text(json.dumps({**report, "passed": False}))
    assert {e.tier for e in with_gpu_reports(entries, tmp_path)} == {"CPU"}  # a failed GPU tier proves nothing
    (tmp_path / "release-gpu-a" / GPU_REPORT).write_text("{")
    with pytest.raises(ConfigError, match="not a GPU-tier report"):
        with_gpu_reports(entries, tmp_path)


def test_arm64_variants_build_natively_on_the_arm_runner_and_are_planned_with_all_platforms() -> None:
    jobs = plan("--platform", "all", "--torch", "2.14", "--cuda", "13.0", "--flavor", "runtime", "--python", "3.11",
                env={"IMGBUILD_RUNNERS": '{"gpu": "gpu-x86"}'})["include"]
    amd, arm = jobs
    assert (amd["platform"], amd["runs_on"], amd["gpu_runs_on"]) == ("linux/amd64", "ubuntu-latest", "gpu-x86")
    assert (arm["variant"], arm["platform"], arm["runs_on"]) == ("2.14.1-cu130-py3.11-runtime-arm64", "linux/arm64",
                                                                 "ubuntu-24.04-arm")
    assert arm["gpu_runs_on"] == "" and arm["locked"] == "yes"  # no arm64 GPU runner named: the CPU tier only
    own = Runners.parse('{"arm": ["self-hosted", "arm64"], "gpu_arm": ["self-hosted", "gh200"]}')
    [variant] = [v for v in MATRIX.expand(("linux/arm64",)) if v.id == "2.14.1-cu130-py3.11-devel-arm64"]
    entry = job(variant, own, set())
    assert (entry["runs_on"], entry["gpu_runs_on"], entry["free_disk"]) == (["self-hosted", "arm64"],
                                                                            ["self-hosted", "gh200"], "no")
    assert job(variant, Runners(), set())["runs_on"] == "ubuntu-24.04-arm"
    whole = plan("--platform", "all", "--layout")
    assert whole["variants"] == len(MATRIX.expand(("linux/amd64", "linux/arm64"))) and whole["not_locked"] > 0


def test_joins_are_planned_only_for_builds_whose_platforms_are_all_selected() -> None:
    build = ("--torch", "2.14", "--cuda", "13.0", "--flavor", "runtime", "--python", "3.11")
    assert plan("--platform", "all", *build, "--join-jobs")["include"] == [
        {"variant": "2.14.1-cu130-py3.11-runtime", "platforms": "linux/amd64 linux/arm64"}]
    # one platform selected: nothing builds the other tonight, so its join could only fail; the builds still plan
    for platform in ("linux/amd64", "linux/arm64"):
        assert plan("--platform", platform, *build, "--join-jobs")["include"] == []
        assert len(plan("--platform", platform, *build)["include"]) == 1


@pytest.mark.parametrize("args, words", [
    (("--gpu-jobs", "--join-jobs"), "--gpu-jobs and --join-jobs each print another matrix: drop one of them"),
    (("--layout", "--chunk", "0"), "so it would ignore --chunk: drop --chunk, or drop --layout"),
    (("--layout", "--gpu-jobs"), "ignore --gpu-jobs: drop --gpu-jobs, or drop --layout"),
    (("--layout", "--join-jobs", "--chunk", "1"), "ignore --chunk and --join-jobs: drop --chunk and --join-jobs"),
])
def test_plan_refuses_options_its_view_would_ignore(args, words) -> None:
    result = CliRunner().invoke(app, ["plan", "--matrix", str(ROOT / "matrix.yaml"), *args])
    assert isinstance(result.exception, ConfigError) and words in str(result.exception), result.output
    assert result.stdout == ""
