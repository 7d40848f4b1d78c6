"""Registry credentials: the environment first (CI), else what `docker login` left (config file or helper)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DaemonError, RegistryError
from ..engine.login import docker_login

_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # the password must never reach a log or a traceback
        return f"Credentials(username={self.username!r}, password='***')"


def credentials_for(
    registry_host: str, env: Mapping[str, str] = os.environ, docker_config_path: str | Path | None = None
) -> Credentials | None:
    """Credentials from the environment first (CI), else what `docker login` left (config file or credential
    helper), else None."""
    user, password = env.get("IMGBUILD_REGISTRY_USER"), env.get("IMGBUILD_REGISTRY_PASSWORD")
    if user and password:
        return Credentials(user, password)
    if user or password:
        raise RegistryError("only one of IMGBUILD_REGISTRY_USER / _PASSWORD is set: set both or neither")
    path = Path(docker_config_path or Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json")
    host = "index.docker.io" if registry_host in _DOCKER_HUB else registry_host
    try:
        found = docker_login(host, str(path), dict(env)) if path.is_file() else None
    except DaemonError as exc:
        raise RegistryError(str(exc)) from None
    return Credentials(*found) if found else None
