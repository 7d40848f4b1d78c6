"""A started container: exec into it, copy files in and out, remove it."""

from __future__ import annotations

import io
import posixpath
import tarfile

import docker
import docker.errors

from .boundary import daemon_errors
from .values import RunResult


class Container:
    """A started container: exec into it, read its logs, signal it, remove it."""

    def __init__(self, raw) -> None:
        self._raw = raw

    @property
    def id(self) -> str:
        return self._raw.id

    @daemon_errors
    def exec(self, command: list[str], *, user: str | None = None, environment: dict[str, str] | None = None,
             workdir: str | None = None) -> RunResult:
        code, output = self._raw.exec_run(command, user=user or "", environment=environment, workdir=workdir,
                                          demux=False)
        return RunResult(exit_code=int(code), output=(output or b"").decode(errors="replace"))

    @daemon_errors
    def put_archive(self, path: str, data: bytes) -> None:
        self._raw.put_archive(path, data)

    @daemon_errors
    def get_archive(self, path: str) -> bytes:
        stream, _ = self._raw.get_archive(path)
        return b"".join(stream)

    @daemon_errors
    def running(self) -> bool:
        self._raw.reload()
        return self._raw.status == "running"

    @daemon_errors
    def logs(self) -> str:
        """What the container printed so far, stdout and stderr together."""
        return self._raw.logs().decode(errors="replace")

    @daemon_errors
    def remove(self, force: bool = True) -> None:
        try:
            self._raw.remove(force=force, v=True)
        except docker.errors.NotFound:
            pass


START_LABEL = "io.imgbuild.start"  # one value per start: the container can be found before its id is known


def remove_labelled(client, label: str) -> None:
    """Remove every container carrying `label` (KEY=VALUE), running or not."""
    for found in client.containers.list(all=True, filters={"label": label}):
        found.remove(force=True)


def read_in(container, path: str, hops: int = 8) -> bytes | None:
    """A regular file's bytes (following up to `hops` symbolic links), else None."""
    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.getmembers()[0]
        if member.issym() and hops > 0:
            return read_in(container, posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname)),
                            hops - 1)
        if not member.isfile():
            return None
        read = tar.extractfile(member)
        return read.read() if read else None
