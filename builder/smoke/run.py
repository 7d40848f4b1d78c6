"""Image -> SmokeReport: run smoketests/ inside the image and probe its services from outside."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..core.choices import GpuMode
from ..core.errors import ImgbuildError, SmokeError, writing
from ..core.paths import SMOKETESTS, claim
from ..core.reference import ImageRef
from ..core.tags import VARIANT_LABEL
from ..engine.daemon import Engine
from ..host import gpu
from . import probes
from .record import record_tested
from .report import JSON_MARK, JUNIT_MARK, SmokeCase, SmokeReport, report_paths, write_json, write_junit
from .restricted import restricted_cases

INSIDE = "/tmp/imgbuild-smoke"  # the suite and pytest (read-only to the image's user)
OUTSIDE = "/tmp/imgbuild-smoke-out"  # what the suite writes, made by the image's user


def expectations(labels: dict[str, str]) -> dict[str, str]:
    """What the suite checks the image against: its own labels."""
    keys = ("torch", "torchvision", "timm", "cuda", "cudnn", "flavor", "python", "min-driver",
            # JSON lists: the workbench (every image) and a team's extras (team images)
            "workbench.os", "workbench.python", "team.pip", "team.apt")
    return {f"IMGBUILD_{k.upper().replace('-', '_').replace('.', '_')}": labels.get(f"io.imgbuild.{k}", "")
            for k in keys}


def smoke_test(engine: Engine, image_ref: ImageRef, gpu_mode: GpuMode, work_dir: Path) -> SmokeReport:
    """Run the smoke suite and keep its verdict on this exact image id for a later `imgbuild push`."""
    report = run_smoke(engine, image_ref, gpu_mode)
    record_tested(report, work_dir)
    return report


def test_images(engine: Engine, refs: Sequence[ImageRef], gpu_mode: GpuMode, work_dir: Path, *,
                junit: Path | None = None, json_out: Path | None = None,
                each: Callable[[SmokeReport], None] = lambda report: None) -> list[SmokeReport]:
    """`imgbuild test`: each image's suite, its reports written (one per image: report_paths) and handed to `each`
    as it ends. A user's file where a report would go is refused before the first (long) suite runs."""
    junits, jsons = (report_paths(path, refs) if path else [] for path in (junit, json_out))
    for path in junits:
        claim(path, JUNIT_MARK)
    for path in jsons:
        claim(path, JSON_MARK)
    reports = []
    for i, ref in enumerate(refs):
        reports.append(report := smoke_test(engine, ref, gpu_mode, work_dir))
        each(report)
        if junits:
            write_junit(report, junits[i])
        if jsons:
            write_json(report, jsons[i])
    return reports


def run_smoke(engine: Engine, image_ref: ImageRef, gpu_mode: GpuMode = GpuMode.auto,
              timeout: float = 900) -> SmokeReport:
    """Start the image once (services on free ports), run the suite in it, probe it, always remove it; then once
    more restricted (a read-only root, a nameless UID, no privileges: see restricted.py)."""
    info = engine.image(image_ref)
    if info is None:
        raise SmokeError(f"no image {image_ref}: build it first (`imgbuild build ...`) or check the name")
    expect = expectations(info.labels)
    if not expect["IMGBUILD_TORCH"]:
        raise SmokeError(f"{image_ref} has no io.imgbuild.* labels: test images built by imgbuild")
    use_gpu = gpu.decide(gpu_mode, engine, expect["IMGBUILD_MIN_DRIVER"], expect["IMGBUILD_CUDA"])
    start = time.monotonic()
    token = secrets.token_hex(16)
    jupyter_port, ssh_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="imgbuild-smoke-") as tmp:
        key = probes.make_key(Path(tmp))
        env = {"JUPYTER_TOKEN": token, "JUPYTER_PORT": str(jupyter_port), "SSH_PORT": str(ssh_port),
               "SSH_AUTHORIZED_KEYS": key.with_suffix(".pub").read_text().strip()}
        container = engine.start(image_ref, environment=env, gpus=use_gpu, shm_size="2g",
                                 labels={"io.imgbuild.smoke": "true"})
        try:
            container.put_archive("/tmp", _suite_archive(expect["IMGBUILD_PYTHON"]))
            suite_env = {**expect, "IMGBUILD_GPU": "yes" if use_gpu else "no", "HF_HUB_OFFLINE": "1",
                         "PYTHONPATH": f"{INSIDE}/site", "IMGBUILD_REPORT": f"{OUTSIDE}/figures.json",
                         "PYTHONDONTWRITEBYTECODE": "1"}
            # coreutils timeout: a hung suite (a deadlocked DataLoader, a stuck GPU) ends as a failure, not a hang
            pytest = ["python", "-m", "pytest", f"{INSIDE}/smoketests", "-p", "no:cacheprovider", "-q", "-rfEs",
                      f"--junitxml={OUTSIDE}/junit.xml"]
            run = container.exec(["timeout", str(int(timeout)), *pytest], environment=suite_env)
            cases = _read_junit(container, run.output)
            if run.exit_code == 124:
                cases.append(SmokeCase("inside::suite", "failed", timeout, f"the suite ran past {timeout:.0f}s"))
            cases += _team_cases(container, info.labels, suite_env, timeout)
            figures = _read_json(container, f"{OUTSIDE}/figures.json")
            uid, user_name = (container.exec(["sh", "-c", "id -u; id -un"]).output.split() + ["?", "?"])[:2]
            cases.append(SmokeCase("outside::user_is_not_root", "passed" if uid not in ("0", "?") else "failed",
                                   0.0, f"uid {uid}"))
            for probe in (probes.jupyter_auth(jupyter_port, token), probes.ssh_login(key, ssh_port, user_name)):
                cases.append(SmokeCase(probe.name, "passed" if probe.passed else "failed", probe.seconds,
                                       probe.message))
        finally:
            container.remove()
        cases += restricted_cases(engine, image_ref, key, user_name, (_free_port(), _free_port(), _free_port()))
    return SmokeReport(image=str(image_ref), image_id=info.id, variant=info.labels.get(VARIANT_LABEL, "?"),
                       gpu_tier=use_gpu, cases=tuple(cases), figures=figures, seconds=time.monotonic() - start)


def _suite_archive(python: str) -> bytes:
    """smoketests/ plus a pure-Python pytest for the image's Python: the image itself stays free of it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(SMOKETESTS, arcname="imgbuild-smoke/smoketests",
                filter=lambda t: None if "__pycache__" in t.name else t)
        tar.add(_pytest_for(python), arcname="imgbuild-smoke/site",
                filter=lambda t: None if "__pycache__" in t.name else t)
    return buffer.getvalue()


def _pytest_for(python: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgbuild" / f"pytest-py{python}"
    if (cache / "pytest").is_dir():
        return cache
    tmp = cache.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(tmp),
                                 "--only-binary=:all:", "--python-version", python, "--no-compile", "pytest"],
                                capture_output=True, text=True)
    except OSError as exc:
        raise SmokeError(f"could not run pip to fetch pytest for Python {python} ({exc}): "
                         "install pip for this Python") from None
    if result.returncode != 0:
        raise SmokeError(f"could not fetch pytest for Python {python} to run the suite: "
                         f"{(result.stderr.strip().splitlines() or ['pip failed'])[-1]}")
    with writing(cache):
        tmp.rename(cache)
    return cache


def _team_cases(container, labels: dict[str, str], suite_env: dict[str, str], timeout: float) -> list[SmokeCase]:
    """A team's image carries its own checks (label io.imgbuild.team.tests): run on their own, after the
    standard suite, so neither one's conftest or file names can get in the other's way."""
    folder = labels.get("io.imgbuild.team.tests", "none")
    if folder in ("", "none"):
        return []
    junit = f"{OUTSIDE}/team-junit.xml"
    run = container.exec(["timeout", str(int(timeout)), "python", "-m", "pytest", folder, "-p", "no:cacheprovider",
                          "-q", "-rfEs", f"--junitxml={junit}"], environment=suite_env)
    cases = [replace(c, name=f"team::{c.name}") for c in _read_junit(container, run.output, junit)]
    if run.exit_code == 5:  # pytest: no tests collected
        cases.append(SmokeCase("team::suite", "failed", 0.0, f"{folder} holds no test: add test_*.py files"))
    return cases


def _read_junit(container, output: str, path: str = f"{OUTSIDE}/junit.xml") -> list[SmokeCase]:
    try:
        data = _extract(container.get_archive(path))
    except (ImgbuildError, tarfile.TarError):  # no junit file means pytest itself could not run
        tail = " | ".join(output.strip().splitlines()[-3:])
        return [SmokeCase("inside::suite", "failed", 0.0, f"the suite did not run: {tail}")]
    cases = []
    for case in ET.fromstring(data).iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        name = f"{module}::{case.get('name')}"
        failure = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            cases.append(SmokeCase(name, "failed", float(case.get("time", 0)), failure.get("message", "")[:1000]))
        elif skipped is not None:
            cases.append(SmokeCase(name, "skipped", float(case.get("time", 0)), skipped.get("message", "")))
        else:
            cases.append(SmokeCase(name, "passed", float(case.get("time", 0))))
    return cases


def _read_json(container, path: str) -> dict:
    try:
        return json.loads(_extract(container.get_archive(path)))
    except (ImgbuildError, tarfile.TarError, ValueError):  # figures are optional
        return {}


def _extract(archive: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member else None
        return handle.read() if handle else b""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
