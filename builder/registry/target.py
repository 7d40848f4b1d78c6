"""A registry target: the parsed --registry, its credentials and one client for its API, made once per run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from ..core.reference import ImageRef, RegistryRef
from .client import RegistryClient
from .credentials import Credentials, credentials_for

ZSTD_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class RegistryTarget:
    """One push target, resolved once: the parsed --registry, its credentials and a client for its API."""

    ref: RegistryRef
    credentials: Credentials | None
    client: RegistryClient
    zstd: bool = True  # every tag pushed also gets its zstd twin, TAG-zstd (publish/zstd.py)

    @classmethod
    def open(cls, value: str, env: Mapping[str, str] = os.environ, **client_options: Any) -> RegistryTarget:
        """Parse HOST[:PORT]/NAMESPACE, find its credentials, make its client (one RegistryError on a fault).
        IMGBUILD_ZSTD=0 leaves out the zstd twins (a registry that refuses zstd layers)."""
        return cls.at(RegistryRef.parse(value), env, **client_options)

    @classmethod
    def holding(cls, image: ImageRef, env: Mapping[str, str] = os.environ, **client_options: Any) -> RegistryTarget:
        """The registry a pushed image's reference names (HOST/NAMESPACE/IMAGE@DIGEST), opened as --registry is."""
        if image.registry is None:
            raise ConfigError(f"{image} names no registry: give HOST/NAMESPACE/IMAGE@sha256:...")
        return cls.at(RegistryRef(image.registry, image.repository.rpartition("/")[0]), env, **client_options)

    @classmethod
    def at(cls, ref: RegistryRef, env: Mapping[str, str] = os.environ, **client_options: Any) -> RegistryTarget:
        """A parsed registry's target: its credentials and its client."""
        credentials = credentials_for(ref.host, env)
        zstd = (env.get("IMGBUILD_ZSTD") or "1").strip().lower()
        if zstd not in ZSTD_SWITCH:
            raise ConfigError(f"IMGBUILD_ZSTD={zstd!r}: set 1 (push a zstd twin of every tag) or 0 (gzip only)")
        return cls(ref, credentials, RegistryClient(ref.host, credentials, **client_options), ZSTD_SWITCH[zstd])

    @property
    def host(self) -> str:
        return self.ref.host

    def docker_auth(self) -> dict[str, str] | None:
        """The credentials as the engine's push takes them."""
        if self.credentials is None:
            return None
        return {"username": self.credentials.username, "password": self.credentials.password}

    def scrub(self, text: str) -> str:
        """`text` with the password masked: registries and daemons sometimes echo it in errors."""
        secret = self.credentials.password if self.credentials else None
        return text.replace(secret, "***") if secret else text
