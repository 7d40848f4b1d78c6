"""The embedded default registry: a CNCF Distribution registry on 127.0.0.1, started by `imgbuild registry start`
(or by `push`/`release` when no --registry is given). Its storage lives in the user's data folder and outlives it.

Two ways to run it, the first that works: the `registry:2` image (present or pullable) as a container that
restarts with the daemon, or a Distribution binary on PATH (Debian's `docker-registry`) as a background process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs
import requests

from ..core.errors import ConfigError, DaemonError, RegistryError
from ..core.paths import LOCAL_REGISTRY_PORT, read_regular

IMAGE = "registry:2"
CONTAINER = "imgbuild-registry"
BINARIES = ("docker-registry", "registry")
DEFAULT_PORT = LOCAL_REGISTRY_PORT
NAMESPACE = "imgbuild"  # pushed images land at 127.0.0.1:PORT/imgbuild/<image>


def data_dir() -> Path:
    """$XDG_DATA_HOME/imgbuild/registry (~/.local/share/imgbuild/registry): survives restarts and upgrades."""
    return Path(platformdirs.user_data_dir("imgbuild")) / "registry"


@dataclass(frozen=True)
class LocalRegistry:
    """What was started: how (container or binary), where it listens, where its data is."""

    backend: str  # "container" (registry:2) or the binary's path
    port: int
    data: str
    pid: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        """The --registry value that publishes here."""
        return f"{self.address}/{NAMESPACE}"


def _state_file(root: Path) -> Path:
    return root / "state.json"


def _read_state(root: Path) -> LocalRegistry | None:
    """What `registry start` recorded, or None (never started, or not JSON of ours); anything there but a file
    (a FIFO would hang `registry status`) is a ConfigError."""
    path = _state_file(root)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return LocalRegistry(**json.loads(read_regular(path, 1 << 16, "remove it and run `imgbuild registry start`",
                                                       "a registry state file")))
    except (ValueError, TypeError, RecursionError):  # TypeError: not a mapping of its fields
        return None


def answers(port: int, timeout: float = 2.0) -> bool:
    """A registry speaks the v2 API on 127.0.0.1:PORT (200, or 401 where it wants a login)."""
    try:
        resp = requests.get(f"http://127.0.0.1:{port}/v2/", timeout=timeout)
    except requests.RequestException:
        return False
    return resp.status_code in (200, 401) and "registry/2.0" in resp.headers.get("Docker-Distribution-Api-Version", "")


def status(root: Path | None = None) -> tuple[LocalRegistry | None, bool]:
    """The last started registry (None if never) and whether it answers now."""
    state = _read_state(root or data_dir())
    return state, bool(state and answers(state.port))


def ensure_running(engine_factory, port: int | None = None, root: Path | None = None) -> LocalRegistry:
    """Start the registry unless it already answers; return it. `engine_factory` is called only if needed."""
    root = root or data_dir()
    state, up = status(root)
    if up and (port is None or state.port == port):
        return state
    if up and state is not None:  # starting another would leave this one running, and no longer known
        raise ConfigError(f"the local registry already runs on port {state.port}: use it (drop --port), or stop it "
                          "first with `imgbuild registry stop`")
    return start(engine_factory, port or (state.port if state else DEFAULT_PORT), root)


def start(engine_factory, port: int, root: Path) -> LocalRegistry:
    if _port_taken(port):
        raise RegistryError(f"port {port} on 127.0.0.1 is taken by another program: "
                            f"imgbuild registry start --port {port + 1}")
    try:
        (root / "storage").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"cannot create the registry's folder {root} ({exc.strerror}): "
                            "set XDG_DATA_HOME to a folder you can write") from None
    registry = _start_container(engine_factory, port, root) or _start_binary(port, root)
    _wait_until_answering(registry, root)
    _state_file(root).write_text(json.dumps(asdict(registry)))
    return registry


def stop(engine_factory, root: Path | None = None) -> LocalRegistry | None:
    """Stop it (its storage stays); None when none was started."""
    root = root or data_dir()
    state = _read_state(root)
    if state is None:
        return None
    if state.backend == "container":
        engine_factory().stop_service(CONTAINER)
    elif state.pid and _is_our_process(state.pid, state.backend):
        os.killpg(state.pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(state.pid):
                break
            time.sleep(0.1)
    return state


def _start_container(engine_factory, port: int, root: Path) -> LocalRegistry | None:
    """registry:2 where the daemon has it or can pull it; None to fall back to a binary."""
    try:
        engine = engine_factory()
        if engine.image(IMAGE) is None:
            engine.pull(IMAGE)
    except Exception:  # noqa: BLE001 - no daemon or no Docker Hub: the binary is the fall-back, not a failure
        return None
    try:
        engine.run_service(CONTAINER, IMAGE, environment={"REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}"},
                           volumes={str(root / "storage"): {"bind": "/var/lib/registry", "mode": "rw"}})
    except DaemonError as exc:
        raise RegistryError(f"{exc}: see `docker logs {CONTAINER}`") from None
    return LocalRegistry(backend="container", port=port, data=str(root / "storage"))


def _start_binary(port: int, root: Path) -> LocalRegistry:
    binary = next((path for name in BINARIES if (path := shutil.which(name))), None)
    if binary is None:
        raise RegistryError("no registry to start: the registry:2 image cannot be pulled and no Distribution binary "
                            "is on PATH: install one (Debian/Ubuntu: apt-get install docker-registry)")
    config = root / "config.yml"
    # JSON is YAML: the registry reads this as its config (no auth on loopback, storage in our folder).
    config.write_text(json.dumps({
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }, indent=2))
    with open(root / "registry.log", "ab") as log:
        # Its own session: it outlives this command and a Ctrl-C in the terminal that started it.
        proc = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    return LocalRegistry(backend=binary, port=port, data=str(root / "storage"), pid=proc.pid)


def _wait_until_answering(registry: LocalRegistry, root: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(registry.port, timeout=1):
            return
        if registry.pid and not _alive(registry.pid):
            break
        time.sleep(0.2)
    raise RegistryError(f"the local registry did not answer on {registry.address}: see {root / 'registry.log'}")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of this process still "exists": it is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _is_our_process(pid: int, binary: str) -> bool:
    """A pid from an old state file may belong to another program by now: check its command line."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode() == binary
    except OSError:
        return False
