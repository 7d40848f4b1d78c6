"""The Docker engine: the only module that imports `docker`. The rest sees plain values and our errors."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests
import urllib3

from ..core.errors import BuildError, DaemonError
from ..core.reference import ImageRef
from . import buildkit, classic, emulation, progress
from .boundary import daemon_errors, short
from .container import START_LABEL, Container, read_in, remove_labelled
from .values import ImageInfo, RunResult

MIN_DOCKER = 25  # BuildKit in the engine, with the containerd image store and `RUN --mount`
ANSWER_S = 15  # how long the daemon may take to answer its first ping
NO_DAEMON = ("cannot reach the Docker daemon{where}: start it (`sudo systemctl start docker`, or "
             "`sudo dockerd &`) or point DOCKER_HOST at one")


class Engine:
    """A thin wrapper over the Docker SDK (repo2docker's ContainerEngine is the model)."""

    def __init__(self, base_url: str | None = None, timeout: int = 600) -> None:
        self._host = base_url or os.environ.get("DOCKER_HOST") or None
        try:  # a daemon that accepts the connection and never answers is given up in seconds, not `timeout`
            first = min(timeout, ANSWER_S)
            self._client = (docker.DockerClient(base_url=base_url, timeout=first) if base_url
                            else docker.from_env(timeout=first))
            self._client.ping()
            self._client.api.timeout = timeout
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            where = f" at {base_url}" if base_url else ""
            raise DaemonError(NO_DAEMON.format(where=where) + f" ({short(exc)})") from None

    @property
    @daemon_errors
    def api_version(self) -> str:
        return str(self._version.get("ApiVersion", "?"))

    @daemon_errors
    def info(self) -> dict:
        return self._client.info()

    @functools.cached_property
    @daemon_errors
    def is_podman(self) -> bool:
        """Podman's Docker-compatible API (`podman system service`) names itself among the version's components."""
        return any(part.get("Name", "").startswith("Podman") for part in self._version.get("Components", []))

    @functools.cached_property
    @daemon_errors
    def _version(self) -> dict:
        """The daemon's version answer, asked once: the API version, the engine's and Podman's mark come from it."""
        return self._client.version()

    @property
    def server_version(self) -> str:
        return str(self._version.get("Version", "?"))

    @functools.cached_property
    def _buildx(self) -> str | None:
        return buildkit.buildx_version(self._host)

    @property
    def containerd_store(self) -> bool:
        """Whether images are kept in containerd's store (compressed layers as built) or a graph driver's."""
        return any("containerd.snapshotter" in str(v) for pair in (self.info().get("DriverStatus") or []) for v in pair)

    @functools.cached_property
    def builder(self) -> str:
        """How this engine builds: "buildkit" (Docker 25+ through buildx) or "classic" (rootless Podman's API, whose
        Buildah reads the same Dockerfile, cache mounts included). An older Docker is refused in one line: its
        classic builder cannot read `RUN --mount`, and Docker 20.10-24 are out of support."""
        if self.is_podman:
            return "classic"
        version = self.server_version
        major = re.match(r"\d+", version)
        if major is None or int(major[0]) < MIN_DOCKER:
            raise DaemonError(f"Docker {version} is older than {MIN_DOCKER} and has no BuildKit image builds "
                              f"imgbuild can use: upgrade the engine (scripts/setup-docker.sh, or "
                              "https://docs.docker.com/engine/install/)")
        if self._buildx is None:
            raise DaemonError(buildkit.NO_BUILDX)
        return "buildkit"

    def describe_builder(self) -> str:
        """What builds here, for `doctor` and the start of a build (refuses as `builder` does)."""
        if self.builder == "classic":
            return f"Podman {self.server_version}: its Buildah through the Docker-compatible API"
        kind = "containerd image store" if self.containerd_store else \
            f"the {self.info().get('Driver', '?')} image store (no containerd image store)"
        return f"Docker {self.server_version}: BuildKit through buildx {self._buildx}, {kind}"

    def tmpfs_owned_by(self, uid: int, gid: int) -> str:
        """tmpfs options for a folder owned by uid:gid (Kubernetes' fsGroup): Podman chowns with U, Docker takes uid=."""
        return "rw,nosuid,nodev,U" if self.is_podman else f"rw,nosuid,nodev,uid={uid},gid={gid}"

    # --- images -------------------------------------------------------------------------------
    @daemon_errors
    def build(self, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str | None,
              nocache: bool, log: IO[str], on_step: Callable[[int, int, str], None], platform: str | None = None,
              builder: str | None = None, cache: buildkit.Cache | None = None) -> str:
        """Build without tagging (tags come only after success) and return the image id; `platform` None builds
        for the engine's own (every linux/amd64 build, so that no engine without platform support is asked).
        `builder` (a buildx builder's name) and `cache` (a registry cache) are BuildKit's."""
        if self.builder == "buildkit":
            cache = cache or buildkit.Cache()
            if cache.targets and builder is None and not self.containerd_store:
                raise DaemonError(buildkit.NO_CACHE_EXPORT)
            ids = buildkit.build(self._host, context, buildargs=buildargs, labels=labels, network=network,
                                 nocache=nocache, log=log, on_step=on_step, platform=platform, builder=builder,
                                 cache=cache)
            known = next((info.id for info in map(self.image, ids) if info is not None), None)
            if known is None:
                raise BuildError(f"the engine has no image {ids[0]} after its build (full log: {getattr(log, 'name', '?')})")
            return known
        if builder or (cache and cache != buildkit.Cache()):
            raise DaemonError("--builder and --cache-registry are BuildKit's, and Podman builds with its own Buildah: "
                              "leave them out here")
        return classic.build(self._client, context, buildargs=buildargs, labels=labels, network=network,
                             nocache=nocache, log=log, on_step=on_step, platform=platform)

    @daemon_errors
    def tag(self, image_id: str, ref: ImageRef) -> None:
        self._client.api.tag(image_id, ref.full_repository, ref.tag, force=True)

    def untag(self, ref: ImageRef | str) -> None:
        self.remove_image(ref, noprune=True)  # the tag only: its layers may be another tag's

    @daemon_errors
    def remove_image(self, ref: ImageRef | str, force: bool = False, noprune: bool = False) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._client.api.remove_image(str(ref), force=force, noprune=noprune)

    @daemon_errors
    def forget(self, image_id: str) -> None:
        """Drop an intermediate image's record where nothing needs it: in the containerd image store a build's
        unnamed result stays as a dangling image until removed; in the classic store an image with children stays."""
        try:
            self._client.api.remove_image(image_id, noprune=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: another image is built on it, so the engine keeps it
                raise

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
                         user=str(config.get("User") or ""), architecture=str(attrs.get("Architecture") or ""),
                         layers=tuple((attrs.get("RootFS") or {}).get("Layers") or ()))

    def import_tarball(self, tarball: Path, ref: ImageRef | str, labels: dict[str, str],
                       platform: str | None = None) -> None:
        """A root filesystem tarball as the image REF (`docker import`), with labels, for a platform (the
        engine's own where None)."""
        parsed = ImageRef.parse(ref) if isinstance(ref, str) else ref
        changes = [f"LABEL {key}={value}" for key, value in labels.items()]
        try:
            if platform:
                classic.build_from_tarball(self._client, tarball, parsed, labels, platform)
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

    def read_file(self, image: str, path: str) -> bytes | None:
        """One file of an image, read without running anything in it; None when the image has no such file."""
        return self.read_files(image, [path])[path]

    @daemon_errors
    def read_files(self, image: str, paths: list[str]) -> dict[str, bytes | None]:
        """Files of an image, read without running anything in it (symbolic links followed inside the image);
        None for each path the image has no file at."""
        try:
            container = self._client.containers.create(image, entrypoint=["true"], network_disabled=True)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not open {image}: {short(exc)}") from None
        try:
            return {path: read_in(container, path) for path in paths}
        finally:
            container.remove(force=True)

    @daemon_errors
    def prune_dangling(self) -> None:
        self._client.images.prune(filters={"dangling": True})

    def push(self, ref: ImageRef, auth: dict[str, str] | None, stall: float = 120) -> Iterator[dict]:
        """docker push's progress messages; a failure is the last message ({"error": ...}), never raised. A push
        that says nothing new for `stall` seconds (a frozen registry) ends with a "stalled" error."""
        api, timeout = self._client.api, self._client.api.timeout
        api.timeout = stall  # the stream's socket keeps it: each silence between messages is bounded
        try:
            messages = api.push(ref.full_repository, tag=ref.tag, auth_config=auth, stream=True, decode=True)
            yield from progress.until_stalled(messages, stall)  # a stream that repeats itself is stuck too
        except (docker.errors.DockerException, requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            stalled = "timed out" in str(exc).lower()  # the stream's read, raised by urllib3 itself
            yield {"error": f"stalled: nothing moved for {stall:.0f} s" if stalled else short(exc)}
        finally:
            api.timeout = timeout

    def pull(self, ref: ImageRef | str, auth: dict[str, str] | None = None, platform: str | None = None) -> None:
        """Pull REPO:TAG or REPO@DIGEST (for a platform: one of a multi-platform tag's images)."""
        parsed = ImageRef.parse(ref) if isinstance(ref, str) else ref
        chosen = {"platform": platform} if platform else {}
        name, tag = (f"{parsed.full_repository}@{parsed.digest}", None) if parsed.digest else \
            (parsed.full_repository, parsed.tag or "latest")
        try:
            self._client.api.pull(name, tag=tag, auth_config=auth, **chosen)
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
        mark = secrets.token_hex(8)
        try:
            raw = self._client.containers.run(
                str(image), command, detach=True, environment=environment, user=user, volumes=volumes,
                entrypoint=entrypoint, network_mode="host", device_requests=requests_,
                labels={"io.imgbuild.managed": "true", **(labels or {}), START_LABEL: mark}, shm_size=shm_size,
                read_only=read_only, tmpfs=tmpfs, **privileges)
        except docker.errors.APIError as exc:
            raise DaemonError(f"could not start a container of {image}: {short(exc)}") from None
        except BaseException:  # Ctrl-C between create and return: the container is removed all the same
            remove_labelled(self._client, f"{START_LABEL}={mark}")
            raise
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
