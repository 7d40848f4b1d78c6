"""`imgbuild --help` and `imgbuild matrix` load only what they use: no docker, requests or pydantic for help (the
commands import their stages when they run), no docker or requests for a command's help or for listing the matrix.
Each case runs in a fresh interpreter on this test's own sys.path, so it imports the imgbuild under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import SMALL_MATRIX

PROBE = """
import json, sys
from imgbuild.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nLOADED " + json.dumps({"code": code, "modules": sorted(
    m for m in ("docker", "requests", "pydantic") if m in sys.modules)}) + "\\n")
"""


def loaded(argv: list[str], cwd) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "IMGBUILD_MATRIX": str(SMALL_MATRIX)}
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=cwd, env=env,
                            timeout=120)
    return json.loads(result.stderr.rsplit("LOADED ", 1)[1])


def test_help_loads_no_docker_requests_or_pydantic(tmp_path):
    assert loaded(["--help"], tmp_path) == {"code": 0, "modules": []}


@pytest.mark.parametrize("argv", [["doctor", "--help"], ["push", "--help"], ["build", "--help"],
                                  ["registry", "start", "--help"], ["matrix", "--json"]])
def test_a_command_loads_no_docker_or_requests_it_does_not_use(argv, tmp_path):
    # pydantic may come: typer (0.2x) coerces every option value through it, and the matrix is validated with it
    found = loaded(argv, tmp_path)
    assert found["code"] in (0, None) and not {"docker", "requests"} & set(found["modules"]), found
