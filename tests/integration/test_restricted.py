"""The image where teams run it: a read-only root and a UID with no name (Kubernetes' restricted profile, Apptainer,
HPC). `imgbuild test` runs the restricted check itself (test_smoke.py); these are the cases around it: nothing
writable, a mounted home (Apptainer binds the user's), an OpenShift-style UID in group 0, TensorBoard."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests
import yaml
from helpers import ROOT, docker
from imgbuild.smoke.probes import make_key, ssh_command, wait_for_http
from test_image_contract import free_port

PRIVILEGES = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "host"]
RESTRICTED = ["--read-only", *PRIVILEGES]


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return make_key(tmp_path_factory.mktemp("ssh"))


def run(image, *options, env=None, name_hint="restricted", read_only=True):
    name = f"imgbuild-{name_hint}-{time.monotonic_ns()}"
    flags = [f"-e{k}={v}" for k, v in (env or {}).items()]
    docker("run", "-d", "--name", name, *(RESTRICTED if read_only else PRIVILEGES), *flags, *options, image,
           check=True)
    return name


def ssh_until(key, port, command, user="ml", seconds=60):
    result = None
    for _ in range(seconds):
        result = subprocess.run(ssh_command(key, port, user, command), capture_output=True, text=True, timeout=30)
        if result.returncode == 0:
            break
        time.sleep(1)
    return result


def services(key):
    ports = {"JUPYTER_PORT": str(free_port()), "SSH_PORT": str(free_port())}
    return ports, {**ports, "JUPYTER_TOKEN": "restricted-token",
                   "SSH_AUTHORIZED_KEYS": key.with_suffix(".pub").read_text().strip()}


def test_nothing_writable_is_one_line_and_no_traceback(runtime_image):
    result = docker("run", "--rm", *RESTRICTED, "--user", "12345:12345", runtime_image, timeout=120)
    assert result.returncode == 73, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "nothing here is writable" in line]
    assert len(lines) == 1 and "--tmpfs /tmp" in lines[0] and "emptyDir" in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_mounted_home_is_the_users_home(runtime_image, key, tmp_path):
    """Apptainer's way: the user's own UID, the image read-only, HOME bound from the host."""
    home = tmp_path / "home"
    home.mkdir()
    docker("run", "--rm", "--user", "0", "-v", f"{home}:/h", "--entrypoint", "chown", runtime_image, "23456:23456",
           "/h", check=True)
    ports, env = services(key)
    name = run(runtime_image, "--user", "23456:23456", "--tmpfs", "/tmp", "-v", f"{home}:/home/ml", env=env)
    try:
        result = ssh_until(key, int(ports["SSH_PORT"]), "echo HOME=$HOME; id -un; touch ~/written")
        log = docker("logs", name)
        assert result.returncode == 0, result.stderr + log.stdout + log.stderr
        assert "HOME=/home/ml" in result.stdout and "\nml" in result.stdout, result.stdout
        assert wait_for_http(f"http://127.0.0.1:{ports['JUPYTER_PORT']}/api", timeout=90)
        assert (home / "written").exists() and (home / ".local" / "share" / "jupyter" / "runtime").is_dir()
        assert "not writable" not in log.stdout and "Traceback" not in log.stdout + log.stderr
    finally:
        docker("rm", "-f", name)


def test_a_uid_in_group_0_keeps_the_image_home_and_tensorboard_answers(runtime_image, key):
    """OpenShift's way (an arbitrary UID in group 0, the root writable): the image's home is group-writable, so it
    stays HOME; TensorBoard runs too."""
    ports, env = services(key)
    tensorboard = free_port()
    name = run(runtime_image, "--user", "34567:0", env={**env, "TENSORBOARD_PORT": str(tensorboard)}, read_only=False)
    try:
        result = ssh_until(key, int(ports["SSH_PORT"]), "echo HOME=$HOME; id -u; whoami")
        assert result.returncode == 0 and "HOME=/home/ml" in result.stdout and "34567" in result.stdout, \
            result.stderr + docker("logs", name).stderr
        assert wait_for_http(f"http://127.0.0.1:{tensorboard}/", timeout=90)
        assert requests.get(f"http://127.0.0.1:{tensorboard}/", timeout=10).status_code == 200
        assert wait_for_http(f"http://127.0.0.1:{ports['JUPYTER_PORT']}/api", timeout=90)
        status = requests.get(f"http://127.0.0.1:{ports['JUPYTER_PORT']}/api/status", timeout=10,
                              headers={"Authorization": "token restricted-token"})
        assert status.status_code == 200
        log = docker("logs", name)
        assert "Traceback" not in log.stdout + log.stderr, log.stderr[-2000:]
    finally:
        docker("rm", "-f", name)


def test_the_kubernetes_pod_as_docker_runs_it(runtime_image, key, tmp_path):
    """docs/kubernetes.yaml's pod, as far as Docker can model it: its user and groups, read-only root, no
    capabilities, its emptyDirs as tmpfs, its volume's subPaths (group-owned, as fsGroup makes them), its probe."""
    pod = next(doc for doc in yaml.safe_load_all((ROOT / "docs" / "kubernetes.yaml").read_text())
               if doc["kind"] == "Deployment")["spec"]["template"]["spec"]
    context, container = pod["securityContext"], pod["containers"][0]
    volume = tmp_path / "pvc"
    mounts = []
    for mount in container["volumeMounts"]:
        if mount["mountPath"] in ("/tmp", "/dev/shm"):
            continue  # emptyDirs: a tmpfs and --shm-size below
        (volume / mount["subPath"]).mkdir(parents=True)
        mounts += ["-v", f"{volume / mount['subPath']}:{mount['mountPath']}"]
    group = str(context["fsGroup"])
    docker("run", "--rm", "--user", "0", "-v", f"{volume}:/v", "--entrypoint", "sh", runtime_image, "-c",
           f"chown -R 0:{group} /v && chmod -R 2775 /v", check=True)
    ports, env = services(key)  # free ports for this host's network in place of 8888 and 2222
    name = run(runtime_image, "--user", f"{context['runAsUser']}:{context['runAsGroup']}", "--group-add", group,
               "--tmpfs", "/tmp", "--shm-size", "8g", *mounts, env=env, name_hint="kubernetes")
    try:
        probe = container["readinessProbe"]["exec"]["command"]
        for _ in range(90):
            if docker("exec", name, *probe).returncode == 0:
                break
            time.sleep(1)
        assert docker("exec", name, *probe).returncode == 0, docker("logs", name).stderr[-2000:]
        result = ssh_until(key, int(ports["SSH_PORT"]), "touch ~/.history-kept /workspace/checkpoints/ok && id -un")
        assert result.returncode == 0 and result.stdout.strip() == "ml", result.stderr
        assert (volume / "home" / ".history-kept").exists() and (volume / "checkpoints" / "ok").exists()
        log = docker("logs", name)
        assert "Traceback" not in log.stdout + log.stderr and "not writable" not in log.stdout, log.stdout[-2000:]
    finally:
        docker("rm", "-f", name)
