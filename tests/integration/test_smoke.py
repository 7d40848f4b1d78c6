"""`imgbuild test`: the suite inside the offline test image, and what it exists to catch."""

from __future__ import annotations

import json
import os
import signal
import time
import xml.etree.ElementTree as ET

import pytest
from helpers import IMGBUILD, ROOT, docker, imgbuild, signalled, smoke_containers


@pytest.fixture
def derived(runtime_image, tmp_path):
    """A copy of the test image with one thing changed (a label, a package); removed afterwards."""
    made = []

    def make(name, *lines):
        (tmp_path / "Dockerfile").write_text(f"FROM {runtime_image}\n" + "\n".join(lines) + "\n")
        ref = f"imgbuild-test/{name}:1"
        docker("build", "--provenance=false", "--network", "host", "-t", ref, str(tmp_path), check=True, timeout=900)
        made.append(ref)
        return ref

    yield make
    for ref in made:
        docker("rmi", "-f", ref)


def test_the_suite_passes_on_cpu_and_writes_junit_and_json(runtime_image, tmp_path):
    junit, report = tmp_path / "junit.xml", tmp_path / "smoke.json"
    result = imgbuild("test", runtime_image, "--gpu", "no", "--junit", str(junit), "--json", str(report))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    names = " ".join(f"{c.get('classname')}::{c.get('name')}" for c in cases)
    passed = [c for c in cases if not list(c)]
    assert len(passed) >= 8
    assert "deit" in names and "jupyter" in names and "ssh" in names
    restricted = [c for c in cases if "restricted" in f"{c.get('classname')}::{c.get('name')}"]
    assert len(restricted) == 5 and all(not list(c) for c in restricted), names  # read-only root, nameless UID
    data = json.loads(report.read_text())
    assert data["passed"] and data["counts"]["failed"] == 0 and data["figures"].get("deit_cpu_img_s", 0) > 0
    record = ROOT / ".imgbuild" / "tested" / (data["image_id"].split(":")[-1] + ".json")
    assert json.loads(record.read_text())["passed"]
    assert smoke_containers() == []


def test_gpu_yes_without_a_gpu_names_the_missing_link(runtime_image):
    result = imgbuild("test", runtime_image, "--gpu", "yes")
    assert result.returncode == 5
    assert "NVIDIA" in result.stderr and "driver" in result.stderr, result.stderr
    assert smoke_containers() == []


def test_a_torch_that_does_not_match_its_label_fails_identity(derived, tmp_path):
    liar = derived("liar", 'LABEL io.imgbuild.torch="2.13.0"')
    junit = tmp_path / "junit.xml"
    result = imgbuild("test", liar, "--gpu", "no", "--junit", str(junit))
    assert result.returncode == 5
    failed = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert "test_torch_version" in failed
    assert smoke_containers() == []


def test_an_image_without_timm_fails_deit_with_a_clear_message(derived, tmp_path):
    broken = derived("no-timm", "RUN pip uninstall -y timm")
    report = tmp_path / "smoke.json"
    result = imgbuild("test", broken, "--gpu", "no", "--json", str(report))
    assert result.returncode == 5
    cases = json.loads(report.read_text())["cases"]
    deit = [c for c in cases if "deit" in c["name"].lower() and c["outcome"] == "failed"]
    assert deit and any("timm is not installed" in c["message"] for c in deit), deit
    assert smoke_containers() == []


@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGINT, 130, "interrupted"),
    (signal.SIGTERM, 143, "terminated (SIGTERM): what it had begun was undone; re-run the same command")],
    ids=["Ctrl-C", "SIGTERM"])
def test_a_signal_mid_test_ends_in_one_line_and_removes_the_container_and_its_key(runtime_image, tmp_path, signum,
                                                                                   code, line):
    """A person's Ctrl-C or CI's cancel (SIGTERM): the container, with JupyterLab and sshd on the host network, and
    the SSH key that logs into it are gone when the command ends."""

    def running() -> bool:
        if not smoke_containers():
            return False
        assert list(tmp_path.glob("imgbuild-smoke-*/id_ed25519")), "the key is not where this test looks"
        time.sleep(2)
        return True

    ended = signalled([*IMGBUILD, "test", runtime_image, "--gpu", "no"], signum, running,
                      env={**os.environ, "TMPDIR": str(tmp_path)}, within=60)
    ended.assert_one_line(code, line)
    assert smoke_containers() == []
    assert list(tmp_path.iterdir()) == []
