"""An image reference parsed once ([REGISTRY/]REPOSITORY[:TAG][@DIGEST]) into a typed value.

Docker's own rule decides what the first path component is: a registry when it has a dot or a port or is
`localhost` (`127.0.0.1:5000/ns/img:tag`, `ghcr.io/org/img`), part of the repository otherwise (`imgbuild/pytorch`).
A colon in the registry part is a port, never a tag: nothing here splits a reference on its last colon.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from .errors import ConfigError, RegistryError
from .redact import has_credentials, redact
from .shown import shown

# Docker's grammar, ASCII only and matched whole (a newline or a quote can never pass into a Dockerfile's FROM).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_REGISTRY = re.compile(r"(?:localhost|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::(?P<port>[0-9]{1,5}))?")
MAX_LENGTH = 512
# A digest as a registry computes it and the nightly signs it: nothing else may stand after REPOSITORY@.
SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class ImageRef:
    repository: str  # "imgbuild/pytorch", "ns/pytorch"
    tag: str | None = None
    digest: str | None = None  # "sha256:..."
    registry: str | None = None  # "127.0.0.1:5000", "ghcr.io"; None: the engine's default (local or Docker Hub)

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse a reference as a user or the engine writes it; a malformed one is a ConfigError naming it."""
        rest, at, digest = text.strip().partition("@")
        registry, slash, path = rest.partition("/")
        if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
            registry, path = "", rest
        last_slash = path.rfind("/")
        colon = path.find(":", last_slash + 1)  # a tag can only follow the last path component
        repository, tag = (path[:colon], path[colon + 1:]) if colon >= 0 else (path, None)
        ref = cls(repository=repository, tag=tag, digest=digest if at else None, registry=registry or None)
        ref._check(text)
        return ref

    @classmethod
    def parse_remote(cls, text: str) -> ImageRef:
        """A reference into a registry (HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]); no tag means `latest`."""
        try:
            ref = cls.parse(text)
        except ConfigError:
            ref = None
        if ref is None or ref.registry is None:
            raise ConfigError(f"bad image reference {shown(redact(text), 80)}: give HOST/NAMESPACE/IMAGE:TAG or "
                              "HOST/NAMESPACE/IMAGE@sha256:... (e.g. ghcr.io/org/pytorch:2.6.0-cpu)")
        return ref if ref.tag or ref.digest else ref.with_tag("latest")

    @property
    def reference(self) -> str:
        """What the Registry API addresses a manifest by: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def _check(self, text: str) -> None:
        bad = None
        host = _REGISTRY.fullmatch(self.registry) if self.registry is not None else None
        if len(text) > MAX_LENGTH:
            bad = f"{len(text)} characters (at most {MAX_LENGTH})"
        elif not _REPOSITORY.fullmatch(self.repository):
            bad = f"repository {shown(redact(self.repository), 80)} (lowercase letters, digits and . _ - / only)"
        elif self.tag is not None and not _TAG.fullmatch(self.tag):
            bad = f"tag {shown(redact(self.tag), 80)}"
        elif self.digest is not None and not _DIGEST.fullmatch(self.digest):
            bad = f"digest {shown(redact(self.digest), 80)} (want sha256:<hex>)"
        elif self.registry is not None and (not host or not 1 <= int(host["port"] or 1) <= 65535):
            bad = f"registry {shown(redact(self.registry), 80)}" + (" (a port is 1 to 65535)" if host else "")
        if bad:
            raise ConfigError(f"bad image reference {shown(redact(text), 80)}: {bad}: "
                              "write it as [HOST[:PORT]/]NAME[:TAG][@DIGEST]")

    @property
    def name(self) -> str:
        """The last path component: "pytorch" of "ghcr.io/org/pytorch:2.6.0-cpu"."""
        return self.repository.split("/")[-1]

    @property
    def full_repository(self) -> str:
        """REGISTRY/REPOSITORY, what the engine tags and pushes under."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, tag=None, digest=digest)

    def same_repository(self, other: ImageRef) -> bool:
        return self.full_repository == other.full_repository

    def __str__(self) -> str:
        return (self.full_repository + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


@dataclass(frozen=True)
class RegistryRef:
    """Where images go: HOST[:PORT] and a NAMESPACE in it (`--registry 127.0.0.1:5000/team`)."""

    host: str
    namespace: str

    @classmethod
    def parse(cls, value: str) -> RegistryRef:
        """Parse "HOST[:PORT]/NAMESPACE" ("127.0.0.1:5000/team", "ghcr.io/org") by the image reference's rules."""
        try:
            ref = ImageRef.parse(value.strip().rstrip("/"))
        except ConfigError:
            ref = None
        if "://" in value or has_credentials(value) or ref is None or ref.registry is None or ref.tag or ref.digest:
            raise RegistryError(f"bad registry {shown(redact(value), 80)}: give HOST[:PORT]/NAMESPACE without a scheme or a "
                                "password (those go in IMGBUILD_REGISTRY_USER / _PASSWORD or `docker login`), "
                                "lowercase namespace (e.g. ghcr.io/my-org or 127.0.0.1:5000/team)")
        return cls(ref.registry, ref.repository)

    @property
    def is_loopback(self) -> bool:
        """Docker treats loopback registries as insecure: they speak plain HTTP."""
        return is_loopback_host(urlsplit(f"//{self.host}").hostname or "")  # drops a :PORT and IPv6 brackets

    def repository(self, image_name: str) -> str:
        return f"{self.namespace}/{image_name}"

    def image_ref(self, image_name: str, tag: str) -> ImageRef:
        return ImageRef(repository=self.repository(image_name), tag=tag, registry=self.host)

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}"


def is_repository(text: str, *, host: bool = False) -> bool:
    """`text` is a whole [HOST[:PORT]/]PATH by `ImageRef.parse`'s grammar: no tag, no digest, nothing stripped;
    `host`: the HOST part is required (what a digest is pushed under)."""
    try:
        ref = ImageRef.parse(text)
    except ConfigError:
        return False
    return (ref.tag is None and ref.digest is None and ref.full_repository == text
            and (ref.registry is not None or not host))


def is_tag(text: str) -> bool:
    """`text` is a tag by the same grammar (what `docker pull REPOSITORY:TAG` takes)."""
    return bool(_TAG.fullmatch(text))


def is_loopback_host(name: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a bare host: no port, no brackets), the only hosts plain HTTP may reach: the
    bytes never leave this machine. A name such as 127.example.com is a host like any other."""
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
