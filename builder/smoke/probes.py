"""Checks of a running image from outside: Jupyter auth, SSH key login, the user. Used by `imgbuild test`."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from ..core.errors import SmokeError

SSH_FIX = "install the OpenSSH client (`apt-get install openssh-client`)"


@dataclass(frozen=True)
class ProbeResult:
    name: str
    passed: bool
    message: str
    seconds: float


def wait_for_http(url: str, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return True
        except requests.RequestException:
            time.sleep(0.5)
    return False


def jupyter_auth(port: int, token: str) -> ProbeResult:
    """Auth is on: the API refuses a request without the token and answers one with it."""
    start = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    if not wait_for_http(f"{base}/api"):
        return ProbeResult("outside::jupyter_auth", False, f"JupyterLab did not answer on {base}", 0.0)
    try:
        without = requests.get(f"{base}/api/status", timeout=5).status_code
        with_token = requests.get(f"{base}/api/status", headers={"Authorization": f"token {token}"},
                                  timeout=5).status_code
    except requests.RequestException as exc:  # it answered once, then stopped: a failed probe, not a crash
        return ProbeResult("outside::jupyter_auth", False, f"JupyterLab stopped answering on {base} ({exc})",
                           time.monotonic() - start)
    ok = without == 403 and with_token == 200
    return ProbeResult("outside::jupyter_auth", ok,
                       f"/api/status without token -> {without} (want 403), with token -> {with_token} (want 200)",
                       time.monotonic() - start)


def ssh_command(key: Path, port: int, user: str, command: str = "id -u", password_only: bool = False) -> list[str]:
    options = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
               "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-p", str(port)]
    if password_only:
        options += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"]
    else:
        options += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
    return ["ssh", *options, f"{user}@127.0.0.1", command]


def ssh_login(key: Path, port: int, user: str, timeout: float = 30) -> ProbeResult:
    """A key login as the image's user works; root and password logins are refused."""
    start = time.monotonic()
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:  # sshd starts beside Jupyter; give it a moment
        result = _ssh(ssh_command(key, port, user))
        if result.returncode == 0:
            break
        time.sleep(1)
    as_user = result is not None and result.returncode == 0 and result.stdout.strip() not in ("", "0")
    as_root = _ssh(ssh_command(key, port, "root"))
    password = _ssh(ssh_command(key, port, user, password_only=True))
    ok = as_user and as_root.returncode != 0 and password.returncode != 0
    detail = (f"key login as {user}: {'ok, uid ' + result.stdout.strip() if as_user else 'FAILED ' + _tail(result)}; "
              f"as root: {'refused' if as_root.returncode else 'ALLOWED'}; "
              f"password: {'refused' if password.returncode else 'ALLOWED'}")
    return ProbeResult("outside::ssh_keys_only", ok, detail, time.monotonic() - start)


def _ssh(command: list[str]) -> subprocess.CompletedProcess:
    """One ssh attempt; a hung one counts as a failed login (exit 255), a missing client is one error line."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        raise SmokeError(f"ssh is not installed, so the SSH login cannot be probed: {SSH_FIX}") from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 255, "", "ssh timed out after 20s")


def make_key(folder: Path) -> Path:
    """A throw-away ed25519 key for the SSH probe."""
    key = folder / "id_ed25519"
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imgbuild-smoke", "-f", str(key)],
                       check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise SmokeError(f"ssh-keygen is not installed: {SSH_FIX}") from None
    except subprocess.CalledProcessError as exc:
        raise SmokeError(f"ssh-keygen failed ({(exc.stderr or '').strip()[:200]}): check {folder} is writable") \
            from None
    return key


def _tail(result) -> str:
    if result is None:
        return "no attempt"
    return (result.stderr or result.stdout or "").strip().splitlines()[-1:][0] if (result.stderr or result.stdout) \
        else f"exit {result.returncode}"
