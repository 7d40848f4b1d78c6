"""The workbench matrix.yaml declares is there for the user: OS tools on PATH, the pinned Python tools,
ipywidgets working in a kernel and in JupyterLab, and JupyterLab without its news pop-up."""
from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import List

import pytest

from conftest import declared, import_names

# Debian package -> the command a user types, for the packages whose command is worth checking on PATH.
COMMANDS = {"vim": "vim", "nano": "nano", "tmux": "tmux", "htop": "htop", "cmake": "cmake", "ninja-build": "ninja",
            "unzip": "unzip", "zip": "zip", "rsync": "rsync", "wget": "wget", "git": "git", "curl": "curl",
            "make": "make", "gcc": "gcc", "g++": "g++", "tini": "tini", "less": "less"}
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"


def os_packages() -> List[str]:
    packages = declared("IMGBUILD_WORKBENCH_OS")
    if not packages:
        pytest.skip("the image declares no workbench (no io.imgbuild.workbench.os label)")
    return packages


def test_every_declared_os_package_is_installed() -> None:
    status = {}
    for package in os_packages():
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        status[package] = result.stdout.strip()
    missing = sorted(p for p, s in status.items() if s != "install ok installed")
    assert not missing, f"declared in matrix.yaml workbench but not installed: {missing}"


def test_the_tools_are_on_the_users_path() -> None:
    wanted = {package: COMMANDS[package] for package in os_packages() if package in COMMANDS}
    missing = sorted(command for command in wanted.values() if shutil.which(command) is None)
    assert not missing, f"not on PATH for the image's user: {missing}"


@pytest.mark.parametrize("requirement", declared("IMGBUILD_WORKBENCH_PYTHON") or ["(none declared)"])
def test_python_tool_is_installed_at_its_pin_and_imports(requirement: str) -> None:
    if requirement == "(none declared)":
        pytest.skip("the image declares no Python tools (io.imgbuild.workbench.python)")
    name, _, pinned = requirement.partition("==")
    try:
        found = version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed; matrix.yaml pins {pinned}", pytrace=False)
    assert found == pinned, f"{name} is {found}, matrix.yaml pins {pinned}"
    for module in import_names(name):
        __import__(module)


def test_ipywidgets_runs_in_a_kernel() -> None:
    """A widget displayed in a real kernel opens its comm and sends the widget view a notebook renders."""
    pytest.importorskip("ipywidgets", reason="ipywidgets is not in this image's workbench")
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        msg_id = client.execute("import ipywidgets; ipywidgets.IntSlider(value=3)")
        kinds = set()
        while True:
            msg = client.get_iopub_msg(timeout=60)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "comm_open":
                kinds.add(content.get("target_name"))
            if msg["msg_type"] in ("execute_result", "display_data"):
                kinds.update(content.get("data", {}))
            if msg["msg_type"] == "error":
                pytest.fail(f"the kernel raised {content.get('ename')}: {content.get('evalue')}", pytrace=False)
            if msg["msg_type"] == "status" and content.get("execution_state") == "idle":
                break
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert "jupyter.widget" in kinds and "application/vnd.jupyter.widget-view+json" in kinds, kinds


def test_the_widget_extension_is_enabled_in_jupyterlab() -> None:
    pytest.importorskip("ipywidgets", reason="ipywidgets is not in this image's workbench")
    result = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True,
                            text=True, timeout=120)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if WIDGETS_EXTENSION in line]
    assert lines and "enabled" in lines[0] and "OK" in lines[0], (result.stdout + result.stderr)[-2000:]


def test_jupyterlab_does_not_ask_about_news() -> None:
    """docker-stacks' way: the announcements plugin (the "get notified about Jupyter news?" pop-up) is off."""
    from jupyterlab_server.config import get_static_page_config

    disabled = get_static_page_config(level="all").get("disabledExtensions", {})
    assert disabled.get(NEWS_PLUGIN) is True, f"{NEWS_PLUGIN} is not disabled: {disabled}"
