"""The image contract (README, "Running an image"), checked from outside the offline test image with docker, curl and ssh."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest
import requests
from helpers import docker
from imgbuild.smoke.probes import make_key, ssh_command, wait_for_http


def run(image, *command, user=None, env=None, entrypoint=None, mounts=()):
    args = ["run", "--rm", "--network", "host"]
    if user:
        args += ["--user", user]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    for mount in mounts:
        args += ["-v", mount]
    if entrypoint:
        args += ["--entrypoint", entrypoint]
    return docker(*args, image, *command, timeout=600)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def started(runtime_image):
    """Start the image's default command on free ports; always removed."""
    names = []

    def start(**env):
        ports = {"JUPYTER_PORT": str(free_port()), "SSH_PORT": str(free_port())}
        name = f"imgbuild-contract-{time.monotonic_ns()}"
        args = ["run", "-d", "--name", name, "--network", "host"]
        for key, value in {**ports, **env}.items():
            args += ["-e", f"{key}={value}"]
        docker(*args, runtime_image, check=True)
        names.append(name)
        return name, int(ports["JUPYTER_PORT"]), int(ports["SSH_PORT"])

    yield start
    for name in names:
        docker("rm", "-f", name)


def test_default_user_is_not_root(runtime_image):
    assert run(runtime_image, "id", "-u").stdout.strip() not in ("", "0")


def test_arbitrary_uid_imports_torch_and_writes_the_workspace(runtime_image):
    script = "import torch, pathlib; pathlib.Path('/workspace/logs/x').write_text('1'); print(torch.__version__)"
    result = run(runtime_image, "python", "-c", script, user="12345:0")
    assert result.returncode == 0 and result.stdout.strip().startswith("2.14.1"), result.stderr


def test_versions_match_the_variant_and_its_labels(runtime_image):
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", runtime_image).stdout)
    assert labels["io.imgbuild.torch"] == "2.14.1" and labels["io.imgbuild.cuda"] == "13.0"
    assert labels["io.imgbuild.python"] == "3.11" and labels["io.imgbuild.flavor"] == "runtime"
    for key in ("created", "version", "revision", "source", "title", "description"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    probe = ("import torch, torchvision, timm, sys; print(torch.__version__.split('+')[0], torch.version.cuda,"
             " torch.backends.cudnn.version() // 10000, torchvision.__version__.split('+')[0], timm.__version__,"
             " f'{sys.version_info[0]}.{sys.version_info[1]}')")
    out = run(runtime_image, "python", "-c", probe).stdout.split()
    assert out == ["2.14.1", "13.0", labels["io.imgbuild.cudnn"].split(".")[0], labels["io.imgbuild.torchvision"],
                   labels["io.imgbuild.timm"], "3.11"]


def test_jupyter_needs_the_token(started):
    name, port, _ = started(JUPYTER_TOKEN="s3cret-token")
    assert wait_for_http(f"http://127.0.0.1:{port}/api", timeout=120), docker("logs", name).stderr[-2000:]
    assert requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code == 403
    ok = requests.get(f"http://127.0.0.1:{port}/api/status?token=s3cret-token", timeout=5)
    assert ok.status_code == 200


def test_jupyter_prints_a_random_token_when_none_is_given(started):
    name, port, _ = started()
    assert wait_for_http(f"http://127.0.0.1:{port}/api", timeout=120)
    logs = docker("logs", name).stdout + docker("logs", name).stderr
    token = re.search(r"JupyterLab token: ([0-9a-f]{32,})", logs)
    assert token, logs[-1500:]
    assert requests.get(f"http://127.0.0.1:{port}/api/status?token={token[1]}", timeout=5).status_code == 200
    assert requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5).status_code == 403


def test_an_empty_token_is_refused_not_served(runtime_image):
    result = run(runtime_image, "jupyter", "lab", "--config=/etc/jupyter/jupyter_server_config.py",
                 env={"JUPYTER_TOKEN": ""})
    assert result.returncode != 0 and "JUPYTER_TOKEN is empty" in result.stdout + result.stderr


def test_ssh_key_login_as_the_user_only(started, tmp_path):
    key = make_key(tmp_path)
    name, _, ssh_port = started(SSH_AUTHORIZED_KEYS=key.with_suffix(".pub").read_text().strip())
    for _ in range(60):
        as_user = subprocess.run(ssh_command(key, ssh_port, "ml", "id -u; python -c 'import torch'"),
                                 capture_output=True, text=True)
        if as_user.returncode == 0:
            break
        time.sleep(1)
    assert as_user.returncode == 0 and as_user.stdout.strip() == "1000", as_user.stderr + docker("logs", name).stderr
    assert subprocess.run(ssh_command(key, ssh_port, "root"), capture_output=True).returncode != 0
    assert subprocess.run(ssh_command(key, ssh_port, "ml", password_only=True), capture_output=True).returncode != 0


def test_no_ssh_host_key_in_the_image(runtime_image):
    result = run(runtime_image, "/", "-xdev", "-name", "ssh_host_*", entrypoint="find")
    assert result.stdout.strip() == "", result.stdout


def test_a_command_runs_and_stops_on_sigterm(runtime_image):
    name = f"imgbuild-sigterm-{time.monotonic_ns()}"
    docker("run", "-d", "--name", name, "--network", "host", runtime_image, "python", "-c",
           "import time; print('up', flush=True); time.sleep(600)", check=True)
    try:
        for _ in range(60):
            if "up" in docker("logs", name).stdout:
                break
            time.sleep(0.5)
        start = time.monotonic()
        docker("stop", "-t", "30", name, check=True)
        stopped_in = time.monotonic() - start
        assert stopped_in < 5, f"took {stopped_in:.1f}s: SIGTERM was not forwarded"
        assert docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() in ("143", "0")
    finally:
        docker("rm", "-f", name)


def test_a_file_written_to_mounted_data_is_on_the_host(runtime_image, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    result = run(runtime_image, "python", "-c", "open('/workspace/data/out.txt', 'w').write('from the image')",
                 mounts=[f"{data}:/workspace/data"])
    assert result.returncode == 0, result.stderr
    assert (data / "out.txt").read_text() == "from the image"


def test_one_cuda_runtime_only(runtime_image):
    found = run(runtime_image, "/", "-xdev", "-name", "libcudart.so*", "-not", "-type", "l", entrypoint="find")
    copies = found.stdout.split()
    # NVIDIA's wheels live in /opt/cuda-libs (a layer no Python version names: docs/layers.md), linked from the venv
    assert len(copies) == 1 and copies[0].startswith("/opt/cuda-libs/nvidia/"), copies


def test_no_wheel_from_the_wheelhouse_in_any_layer(runtime_image):
    found = run(runtime_image, "/", "-xdev", "(", "-name", "torch-*.whl", "-o", "-name", "nvidia_*.whl", ")",
                entrypoint="find")
    assert found.stdout.strip() == ""
    cache = run(runtime_image, "/root/.cache", "/home/ml/.cache", "/var/lib/apt/lists", "-type", "f",
                entrypoint="find")
    assert "/pip/" not in cache.stdout and ".deb" not in cache.stdout and "_Packages" not in cache.stdout


def test_healthcheck_and_package_lock(runtime_image):
    health = docker("image", "inspect", "--format", "{{json .Config.Healthcheck}}", runtime_image).stdout
    assert "imgbuild-healthcheck" in health
    lock = run(runtime_image, "/opt/imgbuild/requirements.lock", entrypoint="cat").stdout
    assert "torch==2.14.1" in lock and "timm==" in lock and "jupyterlab==" in lock


def test_small_shm_is_named_with_the_fix(runtime_image):
    result = run(runtime_image, "true")
    assert "/dev/shm is only 64 MB" in result.stderr and "--shm-size 8g" in result.stderr
    roomy = docker("run", "--rm", "--network", "host", "--shm-size", "2g", runtime_image, "true")
    assert "/dev/shm" not in roomy.stderr


def test_old_host_driver_is_named_plainly(runtime_image, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 470.57.02\n")
    fake.chmod(0o755)
    result = run(runtime_image, "true", mounts=[f"{fake}:/usr/local/bin/nvidia-smi:ro"])
    assert "NVIDIA driver 470.57.02 is older than 580.65.06" in result.stderr, result.stderr


def test_compiler_for_torch_compile_is_there(runtime_image):
    result = run(runtime_image, "python", "-c",
                 "import torch; f = torch.compile(lambda x: (x * 2).sin()); print(f(torch.ones(4)).sum().item())")
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_tag_of_the_scheme_points_at_the_image(runtime_image):
    tags = json.loads(docker("image", "inspect", "--format", "{{json .RepoTags}}", runtime_image).stdout)
    assert "imgbuild/pytorch:2.14-cuda13.0-runtime" in tags
    assert any(re.fullmatch(r"imgbuild/pytorch:2\.14\.1-cuda13\.0-cudnn9-runtime-\d{4}-\d{2}-\d{2}", t) for t in tags), tags


def test_no_secret_in_labels_or_build_history(runtime_image):
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", runtime_image).stdout
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", runtime_image).stdout
    # the SBOM, the provenance and the session environment the image carries (test_attest: the pushed ones too)
    carried = run(runtime_image, "/opt/imgbuild/sbom.cdx.json", "/opt/imgbuild/provenance.json",
                  "/opt/imgbuild/session.env", entrypoint="cat")
    assert carried.returncode == 0 and '"bomFormat": "CycloneDX"' in carried.stdout, carried.stderr
    for text in (history, labels, carried.stdout):
        for word in ("PASSWORD", "password=", "TOKEN=", "IMGBUILD_REGISTRY"):
            assert word not in text, word
