"""The workbench in the offline test image, from outside: the user's tools, TensorBoard started by
TENSORBOARD_PORT and read over its HTTP API, and JupyterLab without its news pop-up."""

from __future__ import annotations

import html
import json
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
from helpers import docker, missing
from imgbuild.smoke.probes import wait_for_http

WRITE_SCALARS = """
from torch.utils.tensorboard import SummaryWriter
writer = SummaryWriter(log_dir="/workspace/logs/run1")
for step in range(3):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
writer.close()
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def container(runtime_image):
    """Start the image's default command with the given environment, on free ports; always removed."""
    names = []

    def start(_docker_args=(), **env):
        env = {"JUPYTER_PORT": str(free_port()), "JUPYTER_TOKEN": "wb-token", **env}
        name = f"imgbuild-workbench-{time.monotonic_ns()}"
        args = ["run", "-d", "--name", name, "--network", "host", *_docker_args]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        docker(*args, runtime_image, check=True)
        names.append(name)
        return name, int(env["JUPYTER_PORT"])

    yield start
    for name in names:
        docker("rm", "-f", name)


def test_the_tools_are_on_the_users_path_in_a_login_shell(runtime_image):
    """A login shell (SSH, JupyterLab's Terminal) resets PATH from /etc/profile: the tools must still be there."""
    tools = ["vim", "nano", "tmux", "htop", "cmake", "ninja", "git", "unzip", "zip", "rsync", "wget"]
    script = "id -u; for t in " + " ".join(tools) + "; do command -v $t >/dev/null || echo MISSING $t; done"
    result = docker("run", "--rm", "--network", "host", runtime_image, "bash", "-lc", script)
    assert result.stdout.split()[0] == "1000" and "MISSING" not in result.stdout, result.stdout + result.stderr
    imports = docker("run", "--rm", "--network", "host", runtime_image, "python", "-c",
                     "import tensorboard, ipywidgets; print(tensorboard.__version__, ipywidgets.__version__)")
    assert imports.stdout.split() == ["2.21.0", "8.1.9"], imports.stderr
    command = docker("run", "--rm", "--network", "host", runtime_image, "tensorboard", "--version_tb")
    assert command.stdout.strip() == "2.21.0", command.stdout + command.stderr


def test_tensorboard_port_starts_tensorboard_and_it_lists_the_runs(container):
    port = free_port()
    name, _ = container(TENSORBOARD_PORT=str(port))
    written = docker("exec", name, "python", "-c", WRITE_SCALARS)
    assert written.returncode == 0, written.stderr[-2000:]
    base = f"http://127.0.0.1:{port}"
    assert wait_for_http(f"{base}/data/runs", timeout=90), docker("logs", name).stderr[-2000:]
    runs = []
    for _ in range(60):  # TensorBoard scans the logdir every few seconds
        runs = requests.get(f"{base}/data/runs", timeout=5).json()
        if "run1" in runs:
            break
        time.sleep(1)
    assert runs == ["run1"], runs
    scalars = requests.get(f"{base}/data/plugin/scalars/scalars", params={"run": "run1", "tag": "loss"}, timeout=5)
    assert [(row[1], round(row[2], 3)) for row in scalars.json()] == [(0, 1.0), (1, 0.5), (2, 0.333)]
    owner = docker("exec", name, "ps", "-o", "user=,args=", "-C", "tensorboard").stdout
    assert "--host 0.0.0.0" in owner and not owner.startswith("root"), owner


def test_tensorboard_is_off_by_default(container):
    name, port = container()
    assert wait_for_http(f"http://127.0.0.1:{port}/api", timeout=120)
    processes = docker("exec", name, "ps", "-eo", "args=").stdout
    assert "jupyter" in processes and "tensorboard" not in processes, processes


def test_jupyterlab_opens_without_the_news_popup(container):
    name, port = container()
    base = f"http://127.0.0.1:{port}"
    assert wait_for_http(f"{base}/api", timeout=120), docker("logs", name).stderr[-2000:]
    page = requests.get(f"{base}/lab", params={"token": "wb-token"}, timeout=30).text
    config = json.loads(html.unescape(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.DOTALL)[1]))
    assert "@jupyterlab/apputils-extension:announcements" in config["disabledExtensions"], config
    settings = requests.get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                            params={"token": "wb-token"}, timeout=30).json()
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false", settings["schema"]


NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"


def rendered_lab(port: int) -> str:
    """JupyterLab's DOM after a real browser ran its scripts for 20 s of virtual time (Debian's chromium)."""
    chromium = shutil.which("chromium")
    if not chromium:
        missing("no chromium: apt-get install chromium (a real browser opens JupyterLab)")
    result = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                             "--dump-dom", f"http://127.0.0.1:{port}/lab?token=wb-token"],
                            capture_output=True, text=True, timeout=180)
    assert "jp-LauncherCard" in result.stdout, (result.stdout[-1500:], result.stderr[-1500:])  # the launcher rendered
    return result.stdout


def test_a_browser_opening_jupyterlab_gets_no_news_question(container, tmp_path):
    name, port = container()
    assert wait_for_http(f"http://127.0.0.1:{port}/api", timeout=120), docker("logs", name).stderr[-2000:]
    assert NEWS_QUESTION not in rendered_lab(port)
    # the control: without the image's two settings files the same browser does see the question
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    empty.chmod(0o644)
    mounts = [f"-v={empty}:/etc/jupyter/labconfig/{f}:ro" for f in ("page_config.json", "default_setting_overrides.json")]
    name, port = container(_docker_args=mounts)
    assert wait_for_http(f"http://127.0.0.1:{port}/api", timeout=120), docker("logs", name).stderr[-2000:]
    assert NEWS_QUESTION in rendered_lab(port)
