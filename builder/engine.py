"""The Docker engine: the only module that imports `docker`. The rest sees plain values and our errors."""

from __future__ import annotations

import io
import re
import tarfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests

from .errors import BuildError, DaemonError

STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
NO_DAEMON = ("cannot reach the Docker daemon{where}: start it (`sudo systemctl start docker`, or "
             "`sudo dockerd &`) or point DOCKER_HOST at one")


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    size: int = 0
    env: tuple[str, ...] = ()
    user: str = ""


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str


class Engine:
    """A thin wrapper over the Docker SDK (repo2docker's ContainerEngine is the model)."""

    def __init__(self, base_url: str | None = None, timeout: int = 600) -> None:
        try:
            self._client = (docker.DockerClient(base_url=base_url, timeout=timeout) if base_url
                            else docker.from_env(timeout=timeout))
            self._client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = f" at {base_url}" if base_url else ""
            raise DaemonError(NO_DAEMON.format(where=where) + f" ({_short(exc)})") from None

    @property
    def api_version(self) -> str:
        return str(self._client.version().get("ApiVersion", "?"))

    def info(self) -> dict:
        return self._client.info()

    # --- images -------------------------------------------------------------------------------
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str | None,
              nocache: bool, log: IO[str], on_step: Callable[[int, int, str], None]) -> str:
        """Build without tagging (tags come only after success) and return the image id."""
        last: deque[str] = deque(maxlen=12)
        step = "before the first step"
        image_id = None
        stream = self._client.api.build(path=str(context), buildargs=buildargs, labels=labels,
                                        network_mode=network, nocache=nocache, rm=True, forcerm=True,
                                        decode=True, pull=False)
        try:
            for chunk in stream:
                if "stream" in chunk:
                    text = chunk["stream"]
                    log.write(text)
                    for line in text.splitlines():
                        if match := STEP.match(line.strip()):
                            step = line.strip()
                            on_step(int(match[1]), int(match[2]), match[3])
                        elif line.strip():
                            last.append(line.rstrip())
                elif "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                elif "error" in chunk:
                    log.write(chunk["error"] + "\n")
                    last.append(chunk["error"].strip())
                    raise BuildError(_failed(step, last, log))
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise BuildError(_failed(step, [*last, _short(exc)], log)) from None
        log.flush()
        if not image_id:
            raise BuildError(_failed(step, [*last, "the engine returned no image id"], log))
        return image_id

    def tag(self, image_id: str, ref: str) -> None:
        repository, tag = ref.rsplit(":", 1)
        self._client.api.tag(image_id, repository, tag, force=True)

    def untag(self, ref: str) -> None:
        try:
            self._client.api.remove_image(ref, noprune=True)
        except docker.errors.NotFound:
            pass

    def remove_image(self, ref: str, force: bool = False) -> None:
        try:
            self._client.api.remove_image(ref, force=force)
        except docker.errors.NotFound:
            pass

    def image(self, ref: str) -> ImageInfo | None:
        try:
            attrs = self._client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        config = attrs.get("Config") or {}
        return ImageInfo(id=attrs["Id"], tags=tuple(attrs.get("RepoTags") or ()),
                         digests=tuple(attrs.get("RepoDigests") or ()), labels=dict(config.get("Labels") or {}),
                         size=int(attrs.get("Size") or 0), env=tuple(config.get("Env") or ()),
                         user=str(config.get("User") or ""))

    def run(self, image: str, command: list[str], *, entrypoint: list[str] | None = None) -> RunResult:
        """Run a command to completion in a fresh host-network container and remove it; stdout only on success,
        stderr on failure."""
        try:
            out = self._client.containers.run(image, command, entrypoint=entrypoint, network_mode="host",
                                              remove=True, stdout=True, stderr=False)
        except docker.errors.ContainerError as exc:
            return RunResult(exit_code=int(exc.exit_status), output=(exc.stderr or b"").decode(errors="replace"))
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not run a container of {image}: {_short(exc)}") from None
        return RunResult(exit_code=0, output=(out or b"").decode(errors="replace"))

    def read_file(self, image: str, path: str) -> bytes | None:
        """One file of an image, read without running anything in it; None when the image has no such file."""
        try:
            container = self._client.containers.create(image, entrypoint=["true"], network_disabled=True)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not open {image}: {_short(exc)}") from None
        try:
            stream, _ = container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile(tar.getmembers()[0])
                return member.read() if member else None
        except docker.errors.NotFound:
            return None
        finally:
            container.remove(force=True)

    def prune_dangling(self) -> None:
        self._client.images.prune(filters={"dangling": True})

    def push(self, ref: str, auth: dict[str, str] | None) -> Iterator[dict]:
        repository, tag = ref.rsplit(":", 1)
        try:
            yield from self._client.api.push(repository, tag=tag, auth_config=auth, stream=True, decode=True)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            yield {"error": _short(exc)}

    def pull(self, ref: str, auth: dict[str, str] | None = None) -> None:
        """Pull REPO:TAG or REPO@DIGEST (a registry's :PORT is not a tag)."""
        repository, tag = ref, None
        if "@" not in ref and ":" in ref.rsplit("/", 1)[-1]:
            repository, tag = ref.rsplit(":", 1)
        self._client.api.pull(repository, tag=tag, auth_config=auth)

    # --- containers ---------------------------------------------------------------------------
    def start(self, image: str, command: list[str] | None = None, *, environment: dict[str, str] | None = None,
              user: str | None = None, volumes: dict[str, dict] | None = None, entrypoint: list[str] | None = None,
              gpus: bool = False, labels: dict[str, str] | None = None, shm_size: str | None = None):
        """Start a detached container on the host network; the caller removes it (see `Container`)."""
        requests_ = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpus else None
        try:
            raw = self._client.containers.run(
                image, command, detach=True, environment=environment, user=user, volumes=volumes,
                entrypoint=entrypoint, network_mode="host", device_requests=requests_,
                labels={"io.imgbuild.managed": "true", **(labels or {})}, shm_size=shm_size)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not start a container of {image}: {_short(exc)}") from None
        return Container(raw)

    def runtimes(self) -> list[str]:
        return sorted((self.info().get("Runtimes") or {}).keys())


class Container:
    """A started container: exec into it, read its logs, signal it, remove it."""

    def __init__(self, raw) -> None:
        self._raw = raw

    @property
    def id(self) -> str:
        return self._raw.id

    def exec(self, command: list[str], *, user: str | None = None, environment: dict[str, str] | None = None,
             workdir: str | None = None) -> RunResult:
        code, output = self._raw.exec_run(command, user=user or "", environment=environment, workdir=workdir,
                                          demux=False)
        return RunResult(exit_code=int(code), output=(output or b"").decode(errors="replace"))

    def put_archive(self, path: str, data: bytes) -> None:
        self._raw.put_archive(path, data)

    def get_archive(self, path: str) -> bytes:
        stream, _ = self._raw.get_archive(path)
        return b"".join(stream)

    def remove(self, force: bool = True) -> None:
        try:
            self._raw.remove(force=force, v=True)
        except docker.errors.NotFound:
            pass


def _failed(step: str, last, log: IO[str]) -> str:
    tail = " | ".join(list(last)[-3:])
    return f"build failed at {step}: {tail} (full log: {getattr(log, 'name', '?')})"


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
