"""A real registry for tests: Debian's docker-registry (Distribution 2.8) on loopback, plus image seeding.

`RegistryServer` writes its own config (the packaged one forces auth and a fixed port), runs the binary as a
subprocess and can be stopped and started again on the same port and storage, as a registry outage would.
The fixture functions at the bottom are plain generators: wire them with `pytest.fixture(...)(fn)`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from typing_extensions import Self

INSTALL_HINT = "run `bash .ci/registry.sh` (installs docker-registry apache2-utils skopeo)"


class RegistryUnavailable(RuntimeError):
    """The registry binary or a tool it needs is missing, or the registry would not start."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _registry_binary() -> str:
    for name in ("docker-registry", "registry"):
        if path := shutil.which(name):
            return path
    raise RegistryUnavailable(f"no registry binary on PATH: {INSTALL_HINT}")


def _htpasswd_line(user: str, password: str) -> str:
    try:
        import bcrypt  # the registry only accepts bcrypt entries

        return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"
    except ImportError:
        pass
    if not shutil.which("htpasswd"):
        raise RegistryUnavailable(f"neither python bcrypt nor htpasswd is available: {INSTALL_HINT}")
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True)
    return out.stdout.strip()


class RegistryServer:
    """One registry process on 127.0.0.1:PORT with its storage in `tmpdir`; optional htpasswd auth."""

    def __init__(
        self,
        tmpdir: str | Path,
        htpasswd_user: str | None = None,
        htpasswd_password: str | None = None,
        port: int | None = None,
    ) -> None:
        self.dir = Path(tmpdir)
        self.user, self.password = htpasswd_user, htpasswd_password
        self.port = port or _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.log_path = self.dir / "registry.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def creds(self) -> str | None:
        """ "user:password" for skopeo's --creds/--dest-creds, None for an open registry."""
        return f"{self.user}:{self.password}" if self.user else None

    @property
    def auth(self) -> tuple[str, str] | None:
        """(user, password) for `requests`, None for an open registry."""
        return (self.user, self.password) if self.user and self.password else None

    def _write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.dir / "storage")},
                "delete": {"enabled": True},
            },
            # A fixed secret keeps upload sessions valid across a restart.
            "http": {"addr": self.host, "secret": "imgbuild-test-registry"},
        }
        if self.user and self.password:
            htpasswd = self.dir / "htpasswd"
            htpasswd.write_text(_htpasswd_line(self.user, self.password) + "\n")
            config["auth"] = {"htpasswd": {"realm": "imgbuild-test", "path": str(htpasswd)}}
        path = self.dir / "config.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML, so no yaml dependency here
        return path

    def start(self, timeout: float = 15.0) -> Self:
        if self.running:
            return self
        config = self._write_config()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [_registry_binary(), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                raise RegistryUnavailable(f"registry exited at start:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RegistryUnavailable(
            f"registry did not answer on {self.url} within {timeout}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no registry log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop it and free the disk its blobs took (a pushed test image is several GB; a session's registries would
        add up), keeping its log and config for a failure's report."""
        self.stop()
        shutil.rmtree(self.dir / "storage", ignore_errors=True)


# -- seeding images without a Docker daemon ------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_oci_layout(
    layout: Path, tag: str, labels: Mapping[str, str] | None = None, payload: str = ""
) -> str:
    """A one-layer linux/amd64 image as an OCI layout at `layout`; returns its manifest digest.

    Built byte for byte here (fixed mtimes), so the same inputs always give the same digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        content = (payload or f"imgbuild test image {tag}\n").encode()
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    layer_tar = tar_bytes.getvalue()
    layer = _blob(layout, gzip.compress(layer_tar, mtime=0))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": dict(labels or {}), "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created_by": "imgbuild tests"}],
    }
    config_desc = _blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    manifest_desc = _blob(layout, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_desc,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_desc["digest"])


def skopeo(*args: str, timeout: float = 120) -> str:
    if not shutil.which("skopeo"):
        raise RegistryUnavailable(f"skopeo is not installed: {INSTALL_HINT}")
    # --insecure-policy: the test images are our own, and CI machines may lack /etc/containers/policy.json.
    out = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args[:1])} failed: {out.stderr.strip()}")
    return out.stdout


def push_image(
    server: RegistryServer,
    workdir: Path,
    repository: str,
    tag: str,
    labels: Mapping[str, str] | None = None,
    docker_format: bool = False,
    payload: str = "",
) -> None:
    """Push a tiny image to `server` as REPOSITORY:TAG with skopeo (Docker schema2 when `docker_format`); images
    with the same `payload` share their one layer."""
    layout = workdir / f"oci-{repository.replace('/', '_')}-{tag}"
    write_oci_layout(layout, tag, labels, payload)
    args = ["copy", "--dest-tls-verify=false"]
    if server.creds:
        args.append(f"--dest-creds={server.creds}")
    if docker_format:
        args.append("--format=v2s2")
    skopeo(*args, f"oci:{layout}:{tag}", f"docker://{server.host}/{repository}:{tag}")


def skopeo_digest(server: RegistryServer, repository: str, tag: str) -> str:
    args = ["inspect", "--tls-verify=false"] + ([f"--creds={server.creds}"] if server.creds else [])
    return json.loads(skopeo(*args, f"docker://{server.host}/{repository}:{tag}"))["Digest"]


# -- fixture functions: `registry = pytest.fixture(scope="session")(registry_fixture)` in a conftest -----


def require_registry_tools() -> None:
    """Skip locally when the tools are missing; under CI=true that is a failure, never a skip."""
    import pytest

    try:
        _registry_binary()
        if not shutil.which("skopeo"):
            raise RegistryUnavailable(f"skopeo is not installed: {INSTALL_HINT}")
    except RegistryUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def registry_fixture(tmp_path_factory) -> Iterator[RegistryServer]:
    """An open registry (no auth)."""
    require_registry_tools()
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


def auth_registry_fixture(tmp_path_factory) -> Iterator[RegistryServer]:
    """A registry with htpasswd auth: user "ci" and a random password (server.user / server.password)."""
    require_registry_tools()
    password = "pw-" + secrets.token_hex(8)
    with RegistryServer(tmp_path_factory.mktemp("registry-auth"), "ci", password) as server:
        yield server
