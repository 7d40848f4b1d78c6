"""The Registry HTTP API v2 over `requests`: auth (basic or bearer token), manifest digests, tag lists."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Mapping
from typing import IO, Any
from urllib.parse import urljoin, urlparse

import requests

from ..core.errors import RegistryError, RegistryRefused, RegistryUnreachable
from ..core.reference import RegistryRef
from .credentials import Credentials, credentials_for

# Index types first: a multi-platform tag must report the index digest, the one `docker pull` pins.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_WHY = {
    "Connection refused": "connection refused",
    "resolve": "host name not found",
    "timed out": "timed out",
}


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
        self.base = f"{scheme or ('http' if RegistryRef(ref_host, '').is_loopback else 'https')}://{ref_host}"
        self.session = session or requests.Session()
        self.retries, self.backoff, self.timeout = retries, backoff, timeout
        self._auth: str | None = None  # None (open registry), "basic" or "bearer"
        self._bearer: dict[str, str] = {}
        self._tokens: dict[str, str] = {}  # repository -> token: registries scope tokens per repository

    @classmethod
    def open(cls, host: str, env: Mapping[str, str] = os.environ, **options: Any) -> RegistryClient:
        """A client for `host` with the credentials found for it (environment, then `docker login`)."""
        return cls(host, credentials_for(host, env), **options)

    def check_login(self, *, retries: int | None = None, timeout: float | None = None) -> None:
        """A real round trip: the registry answers and takes the credentials (a preflight asks it to fail fast)."""
        self._get("/v2/", "", retries=retries, timeout=timeout)
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
        path = f"/v2/{repository}/manifests/{tag}"
        resp = self.request("PUT", path, repository, push=True, headers={"Content-Type": media_type}, data=body)
        if resp.status_code not in (200, 201):
            raise self._unexpected(resp, path)
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()

    def image_manifest(self, repository: str, ref: str, architecture: str = "amd64") -> dict[str, Any]:
        """The manifest of one platform's image: `ref` itself, or the `architecture` entry where `ref` names an index
        (other index entries may be attestations, platform unknown); {} where the index has no such image."""
        manifest = self.manifest(repository, ref)
        if "manifests" not in manifest:
            return manifest
        found = [m for m in manifest["manifests"] if (m.get("platform") or {}).get("architecture") == architecture]
        return self.manifest(repository, found[0]["digest"]) if found else {}

    def config(self, repository: str, ref: str) -> dict[str, Any]:
        """The image config (labels: config["config"]["Labels"]) of the linux/amd64 image `ref` names."""
        manifest = self.image_manifest(repository, ref)
        if not manifest:
            raise RegistryError(f"{self.host}/{repository}:{ref} has no linux/amd64 image: push one")
        return self.config_of(repository, manifest, ref)

    def config_of(self, repository: str, manifest: Mapping[str, Any], ref: str = "") -> dict[str, Any]:
        """The image config one image manifest names (os, architecture, labels)."""
        path = f"/v2/{repository}/blobs/{(manifest.get('config') or {}).get('digest')}"
        if "digest" not in (manifest.get("config") or {}) or (resp := self._get(path, repository)) is None:
            raise RegistryError(f"{self.host}/{repository}:{ref} has no image config: push it again")
        return self._json(resp, path)

    def request(self, method: str, path: str, repository: str, *, push: bool = False,
                headers: Mapping[str, str] | None = None, data: bytes | IO[bytes] | None = None,
                retries: int | None = None, timeout: float | None = None, stream: bool = False) -> requests.Response:
        """Any Registry API call with this client's auth and retries; the caller reads the status. `push` asks
        a token service for push rights as well (blob uploads, manifest writes). The one place that answers a 401:
        the second pass carries the auth the first one asked for."""
        scope, url = f"{repository}:pull,push" if push else repository, urljoin(self.base, path)
        for attempt in range(2):
            resp = self._send(method, url, headers={**(headers or {}), **self._auth_header(scope)}, data=data,
                              retries=retries, timeout=timeout, stream=stream)
            if resp.status_code != 401 or attempt or not self._learn_auth(resp, scope):
                break
        if resp.status_code == 401:
            raise self._refused(resp, repository)
        return resp

    # -- plumbing -----------------------------------------------------------------------------------

    def _get(self, path: str, repository: str, *, method: str = "GET", accept: tuple[str, ...] = (),
             **limits: Any) -> requests.Response | None:
        """The 200 response, or None for 404 (an expected "not there"); anything else raises."""
        headers = {"Accept": ", ".join(accept)} if accept else {}
        resp = self.request(method, path, repository, headers=headers, **limits)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._unexpected(resp, path)
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

    def _send(self, method: str, url: str, *, retries: int | None = None, timeout: float | None = None,
              **kwargs: Any) -> requests.Response:
        """Send, retrying what is usually transient (connection errors, 5xx, 429) with exponential backoff."""
        where = urlparse(url).netloc
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                resp = self.session.request(method, url, timeout=timeout or self.timeout, **kwargs)
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
                    raise RegistryUnreachable(
                        f"registry {where} is not reachable ({why}): start it or check --registry"
                    ) from None
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _refused(self, resp: requests.Response | None, scope: str) -> RegistryError:
        user, fix = self.credentials and self.credentials.username, f"docker login {self.host}"
        if resp is not None and user and "insufficient_scope" in resp.headers.get("WWW-Authenticate", ""):
            return self._error(f"denied user {user!r} access to {scope}: check its rights", RegistryRefused)
        if not user:
            return self._error(f"requires credentials: set {_ENV} or run {fix}", RegistryRefused)
        return self._error(f"refused the credentials for user {user!r}: check {_ENV} or run {fix}", RegistryRefused)

    def _unexpected(self, resp: requests.Response, path: str) -> RegistryError:
        code = resp.status_code
        if (full := self.disk_full(resp)) is not None:
            return full
        if code == 429:
            return self._error("is rate limiting (429): wait, or log in for a higher limit")
        if code >= 500:
            return self._error(f"failed with {code} on {path}: try again later or check its logs")
        return self._error(f"answered {code} on {path}: check --registry, the image name and your rights")

    def disk_full(self, resp: requests.Response) -> RegistryError | None:
        """A registry whose storage is full says so only in its error's detail: Distribution's filesystem driver
        gives the errno (28, ENOSPC), others the words."""
        body = resp.text if resp.status_code >= 500 else ""
        if re.search(r'"Err":\s*28\b|no space left on device', body, re.IGNORECASE):
            return self._error(f"is out of disk space (it answered {resp.status_code}: no space left on device): free "
                               "space on its storage, then re-run the same command (what is there is kept)")
        return None

    def _error(self, text: str, kind: type[RegistryError] = RegistryError) -> RegistryError:
        return kind(f"registry {self.host} {text}")

    def _json(self, resp: requests.Response, path: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._error(f"sent invalid JSON for {path}: is --registry a registry?")
        return body


_ENV = "IMGBUILD_REGISTRY_USER / IMGBUILD_REGISTRY_PASSWORD"

