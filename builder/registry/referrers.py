"""OCI artifacts that refer to an image (OCI distribution spec 1.1): push one, list them, read one back.

A registry with the referrers API indexes a manifest's `subject` itself and says so with an `OCI-Subject` header.
One without it (Distribution 2.8, older registries) gets the fallback the spec defines: an image index under the tag
`sha256-<hex>` of the subject's digest, which the client keeps up to date. Reading tries the API, then that tag.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import IO

from ..core.errors import RegistryError, RegistryUnreachable
from .client import RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_TYPE, EMPTY = "application/vnd.oci.empty.v1+json", b"{}"
TITLE = "org.opencontainers.image.title"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        found = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            found["artifactType"] = self.artifact_type
        if self.annotations:
            found["annotations"] = dict(self.annotations)
        return found

    @classmethod
    def from_json(cls, raw: dict) -> Descriptor:
        return cls(media_type=raw.get("mediaType", ""), digest=raw["digest"], size=int(raw.get("size", 0)),
                   artifact_type=raw.get("artifactType"), annotations=dict(raw.get("annotations") or {}))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def referrers_tag(digest: str) -> str:
    """The fallback tag of a subject digest: sha256:abc... -> sha256-abc..."""
    return digest.replace(":", "-", 1)


def subject_of(client: RegistryClient, repository: str, digest: str) -> Descriptor:
    """The descriptor of a manifest already in the registry (its media type and exact size)."""
    resp = client.request("GET", f"/v2/{repository}/manifests/{digest}", repository,
                          headers={"Accept": ", ".join(_ACCEPT)})
    _expect(resp, (200,), client, f"reading {repository}@{digest}")
    media_type = resp.headers.get("Content-Type", "").split(";")[0] or json.loads(resp.content)["mediaType"]
    return Descriptor(media_type=media_type, digest=digest, size=len(resp.content))


def push_artifact(client: RegistryClient, repository: str, subject: Descriptor, artifact_type: str,
                  payload: bytes, title: str) -> str:
    """Push `payload` as a one-layer artifact referring to `subject`; returns the artifact's manifest digest.
    Pushing the same payload again changes nothing (same digest, listed once)."""
    config, layer = _push_blob(client, repository, EMPTY, EMPTY_TYPE), _push_blob(client, repository, payload,
                                                                                   artifact_type)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                "config": config.to_json(), "layers": [{**layer.to_json(), "annotations": {TITLE: title}}],
                "subject": subject.to_json()}
    body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = digest_of(body)
    resp = client.request("PUT", f"/v2/{repository}/manifests/{digest}", repository, push=True,
                          headers={"Content-Type": OCI_MANIFEST}, data=body)
    _expect(resp, (200, 201), client, f"writing the {artifact_type} artifact of {repository}@{subject.digest}")
    if resp.headers.get("OCI-Subject") != subject.digest:  # no referrers API: keep the tag index ourselves
        entry = Descriptor(OCI_MANIFEST, digest, len(body), artifact_type, {TITLE: title})
        _add_to_tag_index(client, repository, subject.digest, entry)
    return digest


def referrers(client: RegistryClient, repository: str, digest: str, artifact_type: str | None = None) -> list[
        Descriptor]:
    """The artifacts that refer to `digest`: from the referrers API where the registry has one, else the tag."""
    resp = client.request("GET", f"/v2/{repository}/referrers/{digest}", repository, headers={"Accept": OCI_INDEX})
    index = _json(resp) if resp.status_code == 200 else None
    if index is None or "manifests" not in index:
        index = _tag_index(client, repository, digest) or {"manifests": []}
    found = [Descriptor.from_json(raw) for raw in index.get("manifests") or []]
    return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]


def fetch_artifact(client: RegistryClient, repository: str, digest: str) -> bytes:
    """The payload (first layer) of an artifact, checked against its digest."""
    resp = client.request("GET", f"/v2/{repository}/manifests/{digest}", repository, headers={"Accept": OCI_MANIFEST})
    _expect(resp, (200,), client, f"reading {repository}@{digest}")
    layers = (_json(resp) or {}).get("layers") or []
    if not layers:
        raise RegistryError(f"registry {client.host}: {repository}@{digest} is not an artifact (no layer)")
    blob = client.request("GET", f"/v2/{repository}/blobs/{layers[0]['digest']}", repository)
    _expect(blob, (200,), client, f"reading a blob of {repository}@{digest}")
    if digest_of(blob.content) != layers[0]["digest"]:
        raise RegistryError(f"registry {client.host} sent a blob of {repository}@{digest} that does not match its "
                            "digest: push the artifact again")
    return blob.content


# -- plumbing -----------------------------------------------------------------------------------------------

_ACCEPT = (OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json",
           "application/vnd.docker.distribution.manifest.list.v2+json")


def _push_blob(client: RegistryClient, repository: str, data: bytes, media_type: str) -> Descriptor:
    found = Descriptor(media_type=media_type, digest=digest_of(data), size=len(data))
    if not has_blob(client, repository, found.digest):
        upload_blob(client, repository, found.digest, data)
    return found


def has_blob(client: RegistryClient, repository: str, digest: str) -> bool:
    return client.request("HEAD", f"/v2/{repository}/blobs/{digest}", repository, push=True).status_code == 200


def upload_blob(client: RegistryClient, repository: str, digest: str, data: bytes | IO[bytes]) -> None:
    """One monolithic upload (POST, then PUT with the digest). Each attempt opens a new upload session: a PUT
    re-sent to a session whose first PUT broke off is refused ("upload resumed at wrong offset"). A file is sent
    again from where it started."""
    start_at = None if isinstance(data, bytes) else data.tell()
    for attempt in range(client.retries + 1):
        last = attempt == client.retries
        if start_at is not None:
            data.seek(start_at)  # type: ignore[union-attr]
        start = client.request("POST", f"/v2/{repository}/blobs/uploads/", repository, push=True)
        _expect(start, (202,), client, f"starting an upload to {repository}")
        location = start.headers.get("Location", "")
        location += ("&" if "?" in location else "?") + f"digest={digest}"
        try:
            # a socket silent for two minutes is a stalled upload (the registry hashes a 2 GB layer in seconds)
            done = client.request("PUT", location, repository, push=True, retries=0, timeout=120,
                                  headers={"Content-Type": "application/octet-stream"}, data=data)
        except RegistryUnreachable:  # the connection broke off: a new session, unless this was the last try
            if last:
                raise
        else:
            if done.status_code == 201 or last or (done.status_code < 500 and done.status_code != 429):
                _expect(done, (201,), client, f"uploading a blob to {repository}")
                return
        time.sleep(client.backoff * 2**attempt)


def _tag_index(client: RegistryClient, repository: str, digest: str) -> dict | None:
    resp = client.request("GET", f"/v2/{repository}/manifests/{referrers_tag(digest)}", repository,
                          headers={"Accept": OCI_INDEX})
    if resp.status_code == 404:
        return None
    _expect(resp, (200,), client, f"reading the referrers of {repository}@{digest}")
    return _json(resp)


def _add_to_tag_index(client: RegistryClient, repository: str, subject: str, entry: Descriptor) -> None:
    index = _tag_index(client, repository, subject) or {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if any(raw.get("digest") == entry.digest for raw in index.get("manifests") or []):
        return
    index["manifests"] = [*(index.get("manifests") or []), entry.to_json()]
    body = json.dumps(index, separators=(",", ":")).encode()
    resp = client.request("PUT", f"/v2/{repository}/manifests/{referrers_tag(subject)}", repository, push=True,
                          headers={"Content-Type": OCI_INDEX}, data=body)
    _expect(resp, (200, 201), client, f"writing the referrers tag of {repository}@{subject}")


def _json(resp) -> dict | None:
    try:
        body = json.loads(resp.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _expect(resp, codes: tuple[int, ...], client: RegistryClient, doing: str) -> None:
    if resp.status_code not in codes and (full := client.disk_full(resp)) is not None:
        raise full
    if resp.status_code not in codes:
        detail = resp.text.strip().replace("\n", " ")[:200]
        raise RegistryError(f"registry {client.host} answered {resp.status_code} {doing} ({detail}): check the "
                            "registry's logs and your rights to the repository")


def upload_refusal(client: RegistryClient, repository: str) -> RegistryError | None:
    """Why the registry refuses uploads, where its own answer says (a full disk: Docker's push error names only the
    status). One upload session is started and cancelled at once."""
    try:
        start = client.request("POST", f"/v2/{repository}/blobs/uploads/", repository, push=True, retries=0)
        if start.status_code == 202 and start.headers.get("Location"):
            client.request("DELETE", start.headers["Location"], repository, push=True, retries=0)
    except RegistryError:
        return None
    return client.disk_full(start)
