"""The classic build API (docker-py's `build`): what rootless Podman's Docker-compatible socket serves (its Buildah
reads the same Dockerfile, cache mounts included), and the `FROM scratch` import of a root filesystem."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests

from ..core.errors import BuildError
from ..core.reference import ImageRef
from .boundary import failed_step, short

STEP = re.compile(r"^(?:Step|STEP) (\d+)/(\d+) ?: (.*)$")  # Docker: "Step 1/9 : ", Podman (Buildah): "STEP 1/9: "


def build(client: docker.DockerClient, context: Path, *, buildargs: dict[str, str], labels: dict[str, str],
          network: str | None, nocache: bool, log: IO[str], on_step: Callable[[int, int, str], None],
          platform: str | None) -> str:
    """Build untagged and return the image id."""
    last: deque[str] = deque(maxlen=12)
    step = "before the first step"
    image_id = None
    stream = client.api.build(path=str(context), buildargs=buildargs, labels=labels, network_mode=network,
                              nocache=nocache, rm=True, forcerm=True, decode=True, pull=False,
                              **({"platform": platform} if platform else {}))
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(\x1b\[[0-9;]*m)*$|^Removing intermediate container|^ ---> |^The command '.*' returned")


def _failed(step: str, last, log: IO[str]) -> str:
    """The step's number and the last lines that say why (not the classic builder's own chatter)."""
    said = [clean for line in last if not _NOISE.match(clean := _ANSI.sub("", line).strip())]
    return failed_step(step, said, getattr(log, "name", "?"))


def build_from_tarball(client: docker.DockerClient, tarball: Path, ref: ImageRef, labels: dict[str, str],
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
