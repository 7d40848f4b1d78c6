"""Every way in is the image's environment, and sshd passes an audit: a running container of the test image, driven
by a real OpenSSH client (an interactive login with a terminal, a login shell, a plain command), a JupyterLab
terminal over its websocket, and ssh-audit."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests
from helpers import docker, missing
from imgbuild.smoke.probes import make_key, ssh_command, wait_for_http
from test_image_contract import free_port

TORCH = 'python -c "import torch as TORCH; print(TORCH.__name__.upper(), TORCH.__version__)"'  # no inner quotes
ENV = "echo ENV $VIRTUAL_ENV $SSL_CERT_FILE $PIP_CERT $IMGBUILD_VARIANT $JUPYTER_PORT"
TOKEN = "session-test-token"


def start(image, key, name_hint):
    """The image's default command (sshd + JupyterLab) on free ports; waits until SSH logs in."""
    ports = {"JUPYTER_PORT": str(free_port()), "SSH_PORT": str(free_port())}
    name = f"imgbuild-{name_hint}-{time.monotonic_ns()}"
    env = {**ports, "JUPYTER_TOKEN": TOKEN, "SSH_AUTHORIZED_KEYS": key.with_suffix(".pub").read_text().strip()}
    docker("run", "-d", "--name", name, "--network", "host", *[f"-e{k}={v}" for k, v in env.items()], image,
           check=True)
    ssh_port = int(ports["SSH_PORT"])
    for _ in range(90):
        if subprocess.run(ssh_command(key, ssh_port, "ml", "true"), capture_output=True).returncode == 0:
            break
        time.sleep(1)
    return name, int(ports["JUPYTER_PORT"]), ssh_port


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return make_key(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def container(runtime_image, key):
    name, jupyter_port, ssh_port = start(runtime_image, key, "sessions")
    yield name, jupyter_port, ssh_port
    docker("rm", "-f", name)


def interactive(key, port, script: str) -> subprocess.CompletedProcess:
    """An interactive login (a terminal, a login shell) typed into, as a person or VS Code's terminal does."""
    command = ssh_command(key, port, "ml")[:-1]  # no command: sshd starts the user's login shell
    return subprocess.run(["ssh", "-tt", *command[1:]], input=script + "; exit\n", capture_output=True, text=True,
                          timeout=120)


def test_an_interactive_ssh_login_finds_the_venv_and_the_environment(container, runtime_image, key):
    name, _, ssh_port = container
    result = interactive(key, ssh_port, f"{TORCH}; {ENV}")
    assert "TORCH 2.14.1" in result.stdout and "command not found" not in result.stdout, \
        result.stdout[-2000:] + docker("logs", name).stderr[-1000:]
    variant = re.search(r"ENV /opt/venv /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt "
                        r"(\S+) (\d+)", result.stdout)
    assert variant and variant[1] == "2.14.1-cu130-py3.11-runtime", result.stdout[-1500:]
    assert variant[2] == str(container[1])  # this container's value (docker run -e), not the image's 8888


@pytest.mark.parametrize("command", [f"bash -l -c '{TORCH}; {ENV}'", f"{TORCH}; {ENV}"],
                         ids=["login-shell", "plain-command"])
def test_ssh_commands_find_the_venv_and_the_environment(container, key, command):
    result = subprocess.run(ssh_command(key, container[2], "ml", command), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "TORCH 2.14.1" in result.stdout, result.stdout + result.stderr
    assert "ENV /opt/venv /etc/ssl/certs/ca-certificates.crt" in result.stdout and "runtime" in result.stdout


def test_a_jupyterlab_terminal_finds_torch(container):
    websocket = pytest.importorskip("websocket", reason="pip install websocket-client (the test extras)")
    _, port, _ = container
    base, auth = f"127.0.0.1:{port}", {"Authorization": f"token {TOKEN}"}
    assert wait_for_http(f"http://{base}/api", timeout=120)
    terminal = requests.post(f"http://{base}/api/terminals", headers=auth, timeout=10)
    assert terminal.status_code == 200, terminal.text
    ws = websocket.create_connection(f"ws://{base}/terminals/websocket/{terminal.json()['name']}", header=auth,
                                     timeout=10)
    try:
        ws.send(json.dumps(["stdin", f"{TORCH}; {ENV}\r"]))
        seen, deadline = "", time.monotonic() + 90
        while "ENV /opt/venv" not in seen and "not found" not in seen and time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message[0] == "stdout":
                seen += message[1]
    finally:
        ws.close()
        requests.delete(f"http://{base}/api/terminals/{terminal.json()['name']}", headers=auth, timeout=10)
    assert "TORCH 2.14.1" in seen and "ENV /opt/venv /etc/ssl/certs" in seen, seen[-2000:]


def test_a_full_ssh_audit_finds_no_failure_and_a_plain_client_connects(container, key):
    audit = shutil.which("ssh-audit")
    command = [audit] if audit else [sys.executable, "-m", "ssh_audit"]
    if not audit and subprocess.run([*command, "-h"], capture_output=True).returncode not in (0, 1):
        missing("ssh-audit is not installed: pip install -e '.[test]'")
    # The full audit, its DHEat connection-rate test included (no --skip-rate-test).
    result = subprocess.run([*command, "--no-colors", "-p", str(container[2]), "127.0.0.1"],
                            capture_output=True, text=True, timeout=180)
    assert "(kex) sntrup761x25519-sha512@openssh.com" in result.stdout, result.stdout  # post-quantum hybrid first
    assert "connection throttling" not in result.stdout, result.stdout[-3000:]  # the rate test passed
    failures = [line for line in result.stdout.splitlines() if "[fail]" in line or "(fail)" in line]
    assert not failures and result.returncode in (0, 2), "\n".join(failures) or result.stdout[-3000:]
    # ssh-audit exits 2 on a warning: the only ones are curve25519's (not post-quantum), kept for older clients.
    warnings = [line for line in result.stdout.splitlines() if "[warn]" in line]
    assert all(line.startswith("(kex) curve25519-sha256") for line in warnings), "\n".join(warnings)
    time.sleep(2)  # the audit spent this source's burst (see the next test)
    plain = subprocess.run(ssh_command(key, container[2], "ml", "true"), capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr  # the client's defaults still meet the server's list


def test_a_connection_flood_is_refused_and_a_login_after_it_works(container, key):
    """More connections than a source's burst, at once: the rest are refused before sshd runs, then it refills."""
    banners = []
    sockets = [socket.create_connection(("127.0.0.1", container[2]), timeout=10) for _ in range(40)]
    for connection in sockets:
        with connection:
            banners.append(connection.recv(24))
    refused = [banner for banner in banners if banner.startswith(b"Not allowed at this time")]
    assert refused and len(refused) + sum(b.startswith(b"SSH-2.0-") for b in banners) == 40, banners
    time.sleep(2)  # the source's bucket refills
    plain = subprocess.run(ssh_command(key, container[2], "ml", "echo again"), capture_output=True, text=True)
    assert plain.returncode == 0 and "again" in plain.stdout, plain.stderr
    logs = docker("logs", container[0]).stderr
    assert "imgbuild-sshgate: refused 127.0.0.1" in logs, logs[-2000:]


def test_an_interactive_ssh_login_to_devel_finds_nvcc(devel_image, key):
    name, _, ssh_port = start(devel_image, key, "sessions-devel")
    try:
        result = interactive(key, ssh_port, "nvcc --version | tail -1; echo HOME=$CUDA_HOME")
    finally:
        docker("rm", "-f", name)
    assert "Build cuda_13.0" in result.stdout and "HOME=/usr/local/cuda" in result.stdout, result.stdout[-2000:]
