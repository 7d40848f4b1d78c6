"""The Registry HTTP API v2 over `requests`: auth (basic or bearer token), manifest digests, tag lists."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse, urlsplit

import requests

from .errors import RegistryError
from .reference import ImageRef

__all__ = ["Credentials", "RegistryClient", "RegistryError", "RegistryRef", "RegistryTarget", "credentials_for",
           "parse_registry"]


# Index types first: a multi-platform tag must report the index digest, the one `docker pull` pins.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_HOST = re.compile(r"^(localhost|\[[0-9a-fA-F:]+\]|[\w-]+(\.[\w-]+)+)(:\d{1,5})?$|^[\w-]+:\d{1,5}$")
_PART = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAMESPACE = re.compile(rf"^{_PART}(?:/{_PART})*$")
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com")
_WHY = {
    "Connection refused": "connection refused",
    "resolve": "host name not found",
    "timed out": "timed out",
}


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
    from .engine import docker_login
    from .errors import DaemonError

    path = Path(docker_config_path or Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json")
    host = "index.docker.io" if registry_host in _DOCKER_HUB else registry_host
    try:
        found = docker_login(host, str(path), dict(env)) if path.is_file() else None
    except DaemonError as exc:
        raise RegistryError(str(exc)) from None
    return Credentials(*found) if found else None


def _same_host(a: str, b: str) -> bool:
    return a == b or (a in _DOCKER_HUB and b in _DOCKER_HUB)


@dataclass(frozen=True)
class RegistryRef:
    """Where images go: HOST[:PORT] and a NAMESPACE in it (`--registry 127.0.0.1:5000/team`)."""

    host: str
    namespace: str

    def repository(self, image_name: str) -> str:
        return f"{self.namespace}/{image_name}"

    def image_ref(self, image_name: str, tag: str) -> ImageRef:
        return ImageRef(repository=self.repository(image_name), tag=tag, registry=self.host)

    def __str__(self) -> str:
        return f"{self.host}/{self.namespace}"


def parse_registry(value: str) -> RegistryRef:
    """Parse "HOST[:PORT]/NAMESPACE" ("127.0.0.1:5000/team", "ghcr.io/org")."""
    host, _, namespace = value.strip().rstrip("/").partition("/")
    if "://" in value or not _HOST.match(host) or not _NAMESPACE.match(namespace):
        raise RegistryError(
            f"bad registry {value!r}: give HOST[:PORT]/NAMESPACE without a scheme, lowercase namespace"
            " (e.g. ghcr.io/my-org or 127.0.0.1:5000/team)"
        )
    return RegistryRef(host, namespace)


def is_loopback(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""  # drops a :PORT and an IPv6 address's brackets
    return name in ("localhost", "::1") or name.startswith("127.")


@dataclass(frozen=True)
class RegistryTarget:
    """One push target, resolved once: the parsed --registry, its credentials and a client for its API."""

    ref: RegistryRef
    credentials: Credentials | None
    client: RegistryClient

    @classmethod
    def open(cls, value: str, env: Mapping[str, str] = os.environ, **client_options: Any) -> RegistryTarget:
        """Parse HOST[:PORT]/NAMESPACE, find its credentials, make its client (one RegistryError on a fault)."""
        ref = parse_registry(value)
        credentials = credentials_for(ref.host, env)
        return cls(ref, credentials, RegistryClient(ref.host, credentials, **client_options))

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


class RegistryClient:
    """One registry host; learns its auth scheme from the first 401 and reuses it."""

    def __init__(
        self,
        ref_host: str,
        credentials: Credentials | None = None,
        *,
        scheme: str | None = None,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.credentials = ref_host, credentials
        # Docker itself treats loopback registries as insecure, so they speak plain HTTP.
        self.base = f"{scheme or ('http' if is_loopback(ref_host) else 'https')}://{ref_host}"
        self.session = session or requests.Session()
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self._auth: str | None = None  # None (open registry), "basic" or "bearer"
        self._bearer: dict[str, str] = {}
        self._tokens: dict[str, str] = {}  # repository -> token: registries scope tokens per repository

    def check_login(self) -> None:
        self._get("/v2/", "")
        if self._auth == "bearer" and self.credentials is None:  # an anonymous token cannot push
            raise self._refused(None, "")

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        path = f"/v2/{repository}/manifests/{tag}"
        if (resp := self._get(path, repository, method="HEAD", accept=MANIFEST_TYPES)) is None:
            return None
        if digest := resp.headers.get("Docker-Content-Digest"):
            return digest
        resp = self._get(path, repository, accept=MANIFEST_TYPES)  # some registries omit it on HEAD
        return None if resp is None else "sha256:" + hashlib.sha256(resp.content).hexdigest()

    def tags(self, repository: str, page_size: int | None = None) -> list[str]:
        tags: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list" + (f"?n={page_size}" if page_size else "")
        while path and (resp := self._get(path, repository)) is not None:
            tags.extend(self._json(resp, path).get("tags") or [])  # Distribution sends null for none
            match = _LINK_NEXT.search(resp.headers.get("Link", ""))
            path = match.group(1) if match else None
        return tags

    def manifest(self, repository: str, ref: str) -> dict[str, Any]:
        path = f"/v2/{repository}/manifests/{ref}"
        if (resp := self._get(path, repository, accept=MANIFEST_TYPES)) is None:
            raise RegistryError(f"{self.host}/{repository}:{ref} does not exist: push it or check the tag")
        return self._json(resp, path)

    def manifest_bytes(self, repository: str, ref: str) -> tuple[bytes, str] | None:
        """The manifest exactly as stored (its bytes define the digest) and its media type; None if absent."""
        resp = self._get(f"/v2/{repository}/manifests/{ref}", repository, accept=MANIFEST_TYPES)
        return None if resp is None else (resp.content, resp.headers.get("Content-Type", MANIFEST_TYPES[-1]))

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> str:
        """Write `body` under `tag` (a retag when the bytes are an existing manifest: no blob moves); its digest."""
        path, scope = f"/v2/{repository}/manifests/{tag}", f"{repository}:pull,push"
        url = urljoin(self.base, path)
        for attempt in range(2):  # as _get: the second pass carries the auth the first 401 asked for
            headers = {"Content-Type": media_type, **self._auth_header(scope)}
            resp = self._send("PUT", url, data=body, headers=headers)
            if resp.status_code != 401 or attempt or not self._learn_auth(resp, scope):
                break
        if resp.status_code not in (200, 201):
            raise self._refused(resp, repository) if resp.status_code == 401 else self._unexpected(resp, path)
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()

    def config(self, repository: str, ref: str) -> dict[str, Any]:
        """The image config (labels: config["config"]["Labels"]) of a single-platform image."""
        manifest = self.manifest(repository, ref)
        if "manifests" in manifest:
            # Our images are linux/amd64; other index entries may be attestations (platform unknown).
            amd64 = [m for m in manifest["manifests"] if m.get("platform", {}).get("architecture") == "amd64"]
            if not amd64:
                raise RegistryError(f"{self.host}/{repository}:{ref} has no linux/amd64 image: push one")
            manifest = self.manifest(repository, amd64[0]["digest"])
        path = f"/v2/{repository}/blobs/{manifest.get('config', {}).get('digest')}"
        if "digest" not in manifest.get("config", {}) or (resp := self._get(path, repository)) is None:
            raise RegistryError(f"{self.host}/{repository}:{ref} has no image config: push it again")
        return self._json(resp, path)

    def request(self, method: str, path: str, repository: str, *, push: bool = False,
                headers: Mapping[str, str] | None = None, data: bytes | None = None) -> requests.Response:
        """Any Registry API call with this client's auth and retries; the caller reads the status. `push` asks
        a token service for push rights as well (blob uploads, manifest writes)."""
        scope, url = f"{repository}:pull,push" if push else repository, urljoin(self.base, path)
        for attempt in range(2):
            resp = self._send(method, url, headers={**(headers or {}), **self._auth_header(scope)}, data=data)
            if resp.status_code != 401 or attempt or not self._learn_auth(resp, scope):
                break
        if resp.status_code == 401:
            raise self._refused(resp, repository)
        return resp

    # -- plumbing -----------------------------------------------------------------------------------

    def _get(
        self, path: str, scope: str, *, method: str = "GET", accept: tuple[str, ...] = ()
    ) -> requests.Response | None:
        """The 200 response, or None for 404 (an expected "not there"); anything else raises."""
        url, headers = urljoin(self.base, path), {"Accept": ", ".join(accept)} if accept else {}
        for attempt in range(2):  # the second pass runs with the auth the first 401 asked for
            resp = self._send(method, url, headers={**headers, **self._auth_header(scope)})
            if resp.status_code != 401 or attempt or not self._learn_auth(resp, scope):
                break
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._refused(resp, scope) if resp.status_code == 401 else self._unexpected(resp, path)
        return resp

    def _auth_header(self, scope: str) -> dict[str, str]:
        if self._auth == "basic" and self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self._auth == "bearer":
            if scope not in self._tokens:
                self._tokens[scope] = self._fetch_token(scope)
            return {"Authorization": "Bearer " + self._tokens[scope]}
        return {}

    def _learn_auth(self, resp: requests.Response, scope: str) -> bool:
        """Adopt the scheme a 401 asks for; False when a retry cannot help (no or refused credentials)."""
        challenge = resp.headers.get("WWW-Authenticate", "")
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "basic" and self.credentials and self._auth != "basic":
            self._auth = "basic"
            return True
        if kind == "bearer":
            fresh = self._auth != "bearer" or scope in self._tokens  # a new scheme, or an expired token
            self._auth, self._bearer = "bearer", {m[0]: m[1] or m[2] for m in _PARAM.findall(challenge)}
            self._tokens.pop(scope, None)
            return fresh
        return False

    def _fetch_token(self, scope: str) -> str:
        realm = self._bearer.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise self._error("sent a bearer challenge without a realm: check --registry")
        # The ping needs no scope; requests leaves out a None parameter.
        params = {
            "service": self._bearer.get("service"),
            # A scope is a repository (read) or "repository:pull,push" (a write asks for both).
            "scope": f"repository:{scope if ':' in scope else scope + ':pull'}" if scope else None,
        }
        creds = self.credentials and (self.credentials.username, self.credentials.password)
        resp = self._send("GET", realm, params=params, auth=creds)
        if resp.status_code in (401, 403):
            raise self._refused(None, "")
        if resp.status_code != 200:
            raise self._unexpected(resp, urlparse(realm).path)
        if not (token := (body := self._json(resp, realm)).get("token") or body.get("access_token")):
            raise RegistryError(f"the token service of registry {self.host} sent no token: check --registry")
        return token

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send, retrying what is usually transient (connection errors, 5xx, 429) with exponential backoff."""
        where = urlparse(url).netloc
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
                if (resp.status_code < 500 and resp.status_code != 429) or last:
                    return resp
            except requests.exceptions.SSLError:
                raise RegistryError(
                    f"registry {where} failed TLS verification: fix its certificate"
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    why = next((w for k, w in _WHY.items() if k in str(exc)), "connection failed")
                    why = "timed out" if isinstance(exc, requests.Timeout) else why
                    raise RegistryError(
                        f"registry {where} is not reachable ({why}): start it or check --registry"
                    ) from None
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _refused(self, resp: requests.Response | None, scope: str) -> RegistryError:
        user, fix = self.credentials and self.credentials.username, f"docker login {self.host}"
        if resp is not None and user and "insufficient_scope" in resp.headers.get("WWW-Authenticate", ""):
            return self._error(f"denied user {user!r} access to {scope}: check its rights")
        if not user:
            return self._error(f"requires credentials: set {_ENV} or run {fix}")
        return self._error(f"refused the credentials for user {user!r}: check {_ENV} or run {fix}")

    def _unexpected(self, resp: requests.Response, path: str) -> RegistryError:
        code = resp.status_code
        if code == 429:
            return self._error("is rate limiting (429): wait, or log in for a higher limit")
        if code >= 500:
            return self._error(f"failed with {code} on {path}: try again later or check its logs")
        return self._error(f"answered {code} on {path}: check --registry, the image name and your rights")

    def _error(self, text: str) -> RegistryError:
        return RegistryError(f"registry {self.host} {text}")

    def _json(self, resp: requests.Response, path: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._error(f"sent invalid JSON for {path}: is --registry a registry?")
        return body


_ENV = "IMGBUILD_REGISTRY_USER / IMGBUILD_REGISTRY_PASSWORD"
