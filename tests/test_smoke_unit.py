"""SmokeReport and its JUnit writer, and reading the suite's JUnit back out of a container (autospec fake)."""

from __future__ import annotations

import io
import json
import tarfile
import xml.etree.ElementTree as ET
from unittest.mock import create_autospec

import pytest
from imgbuild.core.errors import DaemonError, OutputError
from imgbuild.engine.container import Container
from imgbuild.smoke import run as smoke
from imgbuild.smoke.report import SmokeCase, SmokeReport, write_json, write_junit

CASES = (SmokeCase("test_identity::test_torch_version", "passed", 1.25),
         SmokeCase("test_gpu::test_cuda_available", "skipped", 0.0, "no GPU tier"),
         SmokeCase("outside::ssh_keys_only", "failed", 3.5, "password: ALLOWED <&>"))


def report(cases=CASES) -> SmokeReport:
    return SmokeReport(image="imgbuild/pytorch:2.6.0-cpu", image_id="sha256:" + "ab" * 32, variant="2.6.0-cpu",
                       gpu_tier=False, cases=cases, figures={"deit_cpu_img_s": 41.5}, seconds=12.0)


def test_passed_needs_cases_and_no_failure():
    assert not report().passed and report().counts() == {"passed": 1, "failed": 1, "skipped": 1}
    assert report(CASES[:2]).passed
    assert not report(()).passed  # a suite that ran nothing proves nothing


def test_json_carries_the_verdict_and_the_counts(tmp_path):
    write_json(report(), tmp_path / "out" / "smoke.json")
    data = json.loads((tmp_path / "out" / "smoke.json").read_text())
    assert data["passed"] is False and data["counts"]["failed"] == 1 and data["figures"]["deit_cpu_img_s"] == 41.5


def test_junit_has_one_testcase_per_case_with_failures_and_skips(tmp_path):
    path = tmp_path / "deep" / "junit.xml"
    write_junit(report(), path)
    suite = ET.parse(path).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in suite.iter("testcase")}
    assert set(cases) == {c.name for c in CASES}
    assert cases["outside::ssh_keys_only"].find("failure").get("message") == "password: ALLOWED <&>"
    assert cases["test_gpu::test_cuda_available"].find("skipped") is not None
    assert cases["test_identity::test_torch_version"].get("time") == "1.25" and not list(
        cases["test_identity::test_torch_version"])


def test_an_unwritable_junit_path_is_one_output_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot write .*file/junit.xml"):
        write_junit(report(), tmp_path / "file" / "junit.xml")


def archive(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_suites_junit_round_trips_through_the_reader(tmp_path):
    write_junit(report(), tmp_path / "junit.xml")
    container = create_autospec(Container, instance=True)
    container.get_archive.return_value = archive("junit.xml", (tmp_path / "junit.xml").read_bytes())
    assert tuple(smoke._read_junit(container, "")) == tuple(
        SmokeCase(c.name, c.outcome, c.seconds, c.message) for c in CASES)


def test_no_junit_means_the_suite_did_not_run():
    container = create_autospec(Container, instance=True)
    container.get_archive.side_effect = DaemonError("no such file")
    [case] = smoke._read_junit(container, "line 1\nModuleNotFoundError: No module named 'torch'\n")
    assert case.outcome == "failed" and "No module named 'torch'" in case.message


def test_report_paths_are_the_path_for_one_image_and_one_file_per_image_for_several(tmp_path):
    from imgbuild.core.reference import ImageRef
    from imgbuild.smoke.report import report_paths

    cpu, team = ImageRef("imgbuild/pytorch", "2.6.0-cpu"), ImageRef("imgbuild/vision", "2.6.0-cpu")
    assert report_paths(tmp_path / "r.json", [cpu]) == [tmp_path / "r.json"]
    assert report_paths(tmp_path / "r.json", [cpu, team]) == [tmp_path / "r.pytorch-2.6.0-cpu.json",
                                                              tmp_path / "r.vision-2.6.0-cpu.json"]
    pushed = ImageRef("ns/pytorch", digest="sha256:" + "cd" * 32, registry="ghcr.io")
    mirrored = ImageRef("other/pytorch", digest="sha256:" + "cd" * 32, registry="ghcr.io")
    assert len(set(report_paths(tmp_path / "r.xml", [pushed, mirrored]))) == 2  # the same name and digest: still two
