"""What `docker login` left for a registry, read through docker-py (credential helpers included)."""

from __future__ import annotations

import warnings

import docker.auth
import docker.errors

from ..core.errors import DaemonError
from .boundary import short


def docker_login(registry_host: str, config_file: str, env: dict[str, str]) -> tuple[str, str] | None:
    """What `docker login` left for this registry: an auths entry, or a credsStore / credHelpers helper
    (`docker-credential-NAME get`, as on desktops and CI runners). docker-py reads the config and runs the helper."""
    try:
        config = docker.auth.load_config(config_path=config_file, credstore_env=env)
    except docker.errors.DockerException as exc:
        raise DaemonError(f"cannot read Docker's login for {registry_host} ({short(exc)}): "
                          f"run `docker login {registry_host}` again") from None
    helper = config.get_credential_store(registry_host)
    try:
        with warnings.catch_warnings():  # a missing helper binary warns, then fails: the failure says it in one line
            warnings.simplefilter("ignore")
            entry = config.resolve_authconfig(registry_host) or {}
    except docker.errors.DockerException as exc:
        # A helper's own output may hold the secret it was asked for: name the helper, never echo what it said.
        why = f"docker-credential-{helper} failed" if helper else short(exc)
        raise DaemonError(f"cannot read Docker's login for {registry_host} ({why}): run "
                          f"`docker-credential-{helper or 'HELPER'} get` to see why, or `docker login "
                          f"{registry_host}` again") from None
    user = entry.get("username") or entry.get("Username")
    password = entry.get("password") or entry.get("Password")
    if entry.get("IdentityToken") and not password:
        raise DaemonError(f"Docker's login for {registry_host} is an identity token, which imgbuild cannot use: "
                          "set IMGBUILD_REGISTRY_USER and IMGBUILD_REGISTRY_PASSWORD")
    return (user, password) if user and password else None
