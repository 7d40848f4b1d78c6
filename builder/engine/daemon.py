"""The Docker engine: the only module that imports `docker`. The rest sees plain values and our errors."""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests

from ..core.errors import BuildError, DaemonError
from ..core.reference import ImageRef
from . import emulation
from .boundary import daemon_errors, short
from .container import Container
from .values import ImageInfo, RunResult

STEP = re.compile(r"^(?:Step|STEP) (\d+)/(\d+) ?: (.*)$")  # Docker: "Step 1/9 : ", Podman (Buildah): "STEP 1/9: "
NO_DAEMON = ("cannot reach the Docker daemon{where}: start it (`sudo systemctl start docker`, or "
             "`sudo dockerd &`) or point DOCKER_HOST at one")


class Engine:
    """A thin wrapper over the Docker SDK (repo2docker's ContainerEngine is the model)."""

    def __init__(self, base_url: str | None = None, timeout: int = 600) -> None:
        try:
            self._client = (docker.DockerClient(base_url=base_url, timeout=timeout) if base_url
                            else docker.from_env(timeout=timeout))
            self._client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = f" at {base_url}" if base_url else ""
            raise DaemonError(NO_DAEMON.format(where=where) + f" ({short(exc)})") from None

    @property
    @daemon_errors
    def api_version(self) -> str:
        return str(self._client.version().get("ApiVersion", "?"))

    @daemon_errors
    def info(self) -> dict:
        return self._client.info()

    @functools.cached_property
    @daemon_errors
    def is_podman(self) -> bool:
        """Podman's Docker-compatible API (`podman system service`) names itself among the version's components."""
        return any(part.get("Name", "").startswith("Podman") for part in self._client.version().get("Components", []))

    def tmpfs_owned_by(self, uid: int, gid: int) -> str:
        """tmpfs options for a folder owned by uid:gid, as a volume with Kubernetes' fsGroup is; the engines
        spell it differently (Podman chowns to the container's user with U, Docker takes uid= and gid=)."""
        return "rw,nosuid,nodev,U" if self.is_podman else f"rw,nosuid,nodev,uid={uid},gid={gid}"

    # --- images -------------------------------------------------------------------------------
    @daemon_errors
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str | None,
              nocache: bool, log: IO[str], on_step: Callable[[int, int, str], None], platform: str | None = None) -> str:
        """Build without tagging (tags come only after success) and return the image id; `platform` None builds
        for the engine's own (every linux/amd64 build, so that no engine without platform support is asked)."""
        last: deque[str] = deque(maxlen=12)
        step = "before the first step"
        image_id = None
        stream = self._client.api.build(path=str(context), buildargs=buildargs, labels=labels,
                                        network_mode=network, nocache=nocache, rm=True, forcerm=True,
                                        decode=True, pull=False, **({"platform": platform} if platform else {}))
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
            raise BuildError(_failed(step, [*last, short(exc)], log)) from None
        log.flush()
        if not image_id:
            raise BuildError(_failed(step, [*last, "the engine returned no image id"], log))
        return image_id

    @daemon_errors
    def tag(self, image_id: str, ref: ImageRef) -> None:
        self._client.api.tag(image_id, ref.full_repository, ref.tag, force=True)

    @daemon_errors
    def untag(self, ref: ImageRef | str) -> None:
        try:
            self._client.api.remove_image(str(ref), noprune=True)
        except docker.errors.NotFound:
            pass

    @daemon_errors
    def remove_image(self, ref: ImageRef | str, force: bool = False) -> None:
        try:
            self._client.api.remove_image(str(ref), force=force)
        except docker.errors.NotFound:
            pass

    @daemon_errors
    def image(self, ref: ImageRef | str) -> ImageInfo | None:
        """What the engine knows of a local image (by reference or id), or None when it has none."""
        try:
            attrs = self._client.api.inspect_image(str(ref))
        except docker.errors.ImageNotFound:
            return None
        config = attrs.get("Config") or {}
        return ImageInfo(id=attrs["Id"], tags=tuple(attrs.get("RepoTags") or ()),
                         digests=tuple(attrs.get("RepoDigests") or ()), labels=dict(config.get("Labels") or {}),
                         size=int(attrs.get("Size") or 0), env=tuple(config.get("Env") or ()),
                         user=str(config.get("User") or ""), architecture=str(attrs.get("Architecture") or ""))

    def import_tarball(self, tarball: Path, ref: ImageRef | str, labels: dict[str, str],
                       platform: str | None = None) -> None:
        """A root filesystem tarball as the image REF (`docker import`), with labels, for a platform (the
        engine's own where None)."""
        parsed = ImageRef.parse(ref) if isinstance(ref, str) else ref
        changes = [f"LABEL {key}={value}" for key, value in labels.items()]
        try:
            if platform:
                _build_from_tarball(self._client, tarball, parsed, labels, platform)
            else:
                self._client.api.import_image_from_file(str(tarball), repository=parsed.full_repository,
                                                        tag=parsed.tag or "latest", changes=changes)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            raise DaemonError(f"cannot import {tarball} as {ref}: {short(exc)}") from None

    @daemon_errors
    def run(self, image: str, command: list[str], *, entrypoint: list[str] | None = None) -> RunResult:
        """Run a command to completion in a fresh host-network container and remove it; stdout only on success,
        stderr on failure."""
        try:
            out = self._client.containers.run(image, command, entrypoint=entrypoint, network_mode="host",
                                              remove=True, stdout=True, stderr=False)
        except docker.errors.ContainerError as exc:
            return RunResult(exit_code=int(exc.exit_status), output=(exc.stderr or b"").decode(errors="replace"))
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not run a container of {image}: {short(exc)}") from None
        return RunResult(exit_code=0, output=(out or b"").decode(errors="replace"))

    @daemon_errors
    def read_file(self, image: str, path: str) -> bytes | None:
        """One file of an image, read without running anything in it; None when the image has no such file."""
        try:
            container = self._client.containers.create(image, entrypoint=["true"], network_disabled=True)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not open {image}: {short(exc)}") from None
        try:
            stream, _ = container.get_archive(path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.extractfile(tar.getmembers()[0])
                return member.read() if member else None
        except docker.errors.NotFound:
            return None
        finally:
            container.remove(force=True)

    @daemon_errors
    def prune_dangling(self) -> None:
        self._client.images.prune(filters={"dangling": True})

    def push(self, ref: ImageRef, auth: dict[str, str] | None) -> Iterator[dict]:
        """docker push's progress messages; a failure is the last message ({"error": ...}), never raised."""
        try:
            yield from self._client.api.push(ref.full_repository, tag=ref.tag, auth_config=auth, stream=True,
                                             decode=True)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            yield {"error": short(exc)}

    def pull(self, ref: ImageRef | str, auth: dict[str, str] | None = None, platform: str | None = None) -> None:
        """Pull REPO:TAG or REPO@DIGEST (for a platform: one of a multi-platform tag's images)."""
        parsed = ImageRef.parse(ref) if isinstance(ref, str) else ref
        chosen = {"platform": platform} if platform else {}
        try:
            if parsed.digest:
                self._client.api.pull(f"{parsed.full_repository}@{parsed.digest}", auth_config=auth, **chosen)
            else:
                self._client.api.pull(parsed.full_repository, tag=parsed.tag or "latest", auth_config=auth, **chosen)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            cause = getattr(exc, "explanation", None) or short(exc)
            raise DaemonError(f"cannot pull {ref}: {str(cause).splitlines()[0][:300]}") from None

    # --- containers ---------------------------------------------------------------------------
    @daemon_errors
    def start(self, image: ImageRef | str, command: list[str] | None = None, *, environment: dict[str, str] | None = None,
              user: str | None = None, volumes: dict[str, dict] | None = None, entrypoint: list[str] | None = None,
              gpus: bool = False, labels: dict[str, str] | None = None, shm_size: str | None = None,
              read_only: bool = False, tmpfs: dict[str, str] | None = None, no_privileges: bool = False):
        """Start a detached container on the host network; the caller removes it (see `Container`).
        read_only, tmpfs and no_privileges (every capability dropped, no privilege escalation) model Kubernetes'
        restricted profile."""
        requests_ = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])] if gpus else None
        privileges = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]} if no_privileges else {}
        info = self.image(image)  # another architecture runs under qemu, which needs help (emulation.py)
        arch = info.architecture if info else ""
        volumes = {**(volumes or {}), **emulation.mounts(arch)}
        environment = {**emulation.environment(arch), **(environment or {})}
        try:
            raw = self._client.containers.run(
                str(image), command, detach=True, environment=environment, user=user, volumes=volumes,
                entrypoint=entrypoint, network_mode="host", device_requests=requests_,
                labels={"io.imgbuild.managed": "true", **(labels or {})}, shm_size=shm_size,
                read_only=read_only, tmpfs=tmpfs, **privileges)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not start a container of {image}: {short(exc)}") from None
        return Container(raw)

    @daemon_errors
    def run_service(self, name: str, image: str, *, environment: dict[str, str], volumes: dict[str, dict]) -> None:
        """(Re)start a long-lived named container on the host network that comes back with the daemon."""
        self.stop_service(name)
        try:
            self._client.containers.run(image, detach=True, name=name, environment=environment, volumes=volumes,
                                        network_mode="host", restart_policy={"Name": "unless-stopped"},
                                        labels={"io.imgbuild.managed": "true"})
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not start {name} from {image}: {short(exc)}") from None

    @daemon_errors
    def stop_service(self, name: str) -> None:
        try:
            self._client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not stop {name}: {short(exc)}") from None

    @daemon_errors
    def runtimes(self) -> list[str]:
        return sorted((self.info().get("Runtimes") or {}).keys())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(\x1b\[[0-9;]*m)*$|^Removing intermediate container|^ ---> |^The command '.*' returned")


def _failed(step: str, last, log: IO[str]) -> str:
    """The step's number and the last lines that say why (not the classic builder's own chatter)."""
    said = [clean for line in last if not _NOISE.match(clean := _ANSI.sub("", line).strip())]
    tail = " | ".join(line.strip()[:200] for line in said[-3:]) or "no output"
    short_step = step if len(step) <= 80 else step[:77] + "..."
    return f"build failed at {short_step}: {tail} (full log: {getattr(log, 'name', '?')})"


def _build_from_tarball(client: docker.DockerClient, tarball: Path, ref: ImageRef, labels: dict[str, str],
                        platform: str) -> None:
    """`FROM scratch` + the tarball, built for `platform`: Docker 20.10's import ignores its platform parameter
    and records the engine's architecture, which would make an arm64 root filesystem an amd64 image."""
    with tempfile.TemporaryDirectory(prefix="imgbuild-import-") as folder:
        context = Path(folder)
        try:
            os.link(tarball, context / "rootfs.tar")
        except OSError:  # another filesystem
            shutil.copyfile(tarball, context / "rootfs.tar")
        (context / "Dockerfile").write_text("FROM scratch\nADD rootfs.tar /\n", encoding="utf-8")
        for chunk in client.api.build(path=str(context), tag=str(ref), labels=labels, platform=platform, rm=True,
                                      forcerm=True, decode=True, pull=False):
            if "error" in chunk:
                raise docker.errors.APIError(chunk["error"].strip())
