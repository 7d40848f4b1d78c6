"""Stage 5: tested Image -> registry. Push every tag, verify digests, keep dated tags immutable.

A tag appears in a registry only when its manifest is written, after all its layers are there, so a failed
push never leaves a half-written tag; pushing the dated tag first (and verifying it) means a moving tag
never points at a digest that the immutable tag does not also name. The release manifest and the
tag catalog (`release.json`, `TAGS.md`) live in `release.py`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import tags
from .attest import attach
from .engine import Engine
from .errors import PublishError
from .progress import Reporter
from .registry import Credentials, RegistryClient, RegistryError, RegistryRef
from .release import merge_releases, release_entry, write_release  # noqa: F401 (the stage's public API)
from .smoke import SmokeReport

# What a retry can fix: the registry restarting, a proxy hiccup, rate limiting.
TRANSIENT = re.compile(r"connection (refused|reset)|broken pipe|\bEOF\b|i/o timeout|timed out|"
                       r"\b(429|5\d\d)\b|too ?many ?requests|service unavailable|bad gateway", re.IGNORECASE)
UNREACHABLE = re.compile(r"connection refused|no such host|dial tcp|i/o timeout|timed out", re.IGNORECASE)
REFUSED = re.compile(r"unauthorized|authentication required|no basic auth credentials|denied", re.IGNORECASE)
IMMUTABLE_FIX = "dated tags are immutable; rebuild tomorrow or push under a new date"


@dataclass(frozen=True)
class PushResult:
    variant: str
    refs: tuple[str, ...]  # every HOST/NS/IMAGE:TAG pushed, the dated one first
    digest: str
    layers_pushed: int
    layers_existing: int  # already in the registry (or mounted from another repository of it)
    bytes_pushed: int  # uncompressed sizes of the uploaded layers, as docker reports them
    seconds: float
    labels: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # sbom / provenance -> digest of the referrer pushed


# --- test records -------------------------------------------------------------------------------------

def _record_path(image_id: str, work_dir: Path) -> Path:
    return Path(work_dir) / "tested" / f"{image_id.removeprefix('sha256:')}.json"


def record_tested(report: SmokeReport, work_dir: Path) -> Path:
    """Remember the smoke result of this exact image id (a rebuild is a new id and needs a new test)."""
    path = _record_path(report.image_id, work_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(report.to_json())
    tmp.replace(path)  # a reader never sees half a record
    return path


def tested_record(image_id: str, work_dir: Path) -> dict | None:
    try:
        record = json.loads(_record_path(image_id, work_dir).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


# --- push ---------------------------------------------------------------------------------------------

@dataclass
class _Stream:
    """What one `docker push` said: per-layer outcome and size, the digest, the error if any."""

    layers: dict[str, str] = field(default_factory=dict)  # layer id -> pushed | existing
    sizes: dict[str, int] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None

    def read(self, messages: Iterable[dict], secret: str | None) -> _Stream:
        for msg in messages:
            status, layer = str(msg.get("status") or ""), str(msg.get("id") or "")
            if "error" in msg:
                self.error = _scrub(str(msg.get("error") or msg.get("errorDetail")), secret)
            elif "aux" in msg and (msg["aux"] or {}).get("Digest"):
                self.digest = msg["aux"]["Digest"]
            elif status == "Pushing" and layer:
                detail = msg.get("progressDetail") or {}
                seen = int(detail.get("total") or 0) or int(detail.get("current") or 0)
                self.sizes[layer] = max(self.sizes.get(layer, 0), seen)
            elif status == "Pushed" and layer:
                self.layers[layer] = "pushed"
            elif (status == "Layer already exists" or status.startswith("Mounted from")) and layer:
                self.layers.setdefault(layer, "existing")
        return self


def push_image(engine: Engine, image_ref_local: str, variant_tags: list[str], registry: RegistryRef,
               credentials: Credentials | None, *, client: RegistryClient, reporter: Reporter,
               allow_untested: bool = False, work_dir: Path = Path(".imgbuild"), retries: int = 3,
               backoff: float = 2.0) -> PushResult:
    """Push a local image under every tag in `variant_tags` to REGISTRY/NS/<image name>, then verify."""
    start = time.monotonic()
    info = engine.image(image_ref_local)
    if info is None:
        raise PublishError(f"no local image {image_ref_local}: build it first (`imgbuild build ...`)")
    if not allow_untested and not (tested_record(info.id, work_dir) or {}).get("passed"):
        raise PublishError(f"image {image_ref_local} was not tested (or failed its smoke test): run "
                           f"`imgbuild test {image_ref_local}` first, or pass --allow-untested")
    if not variant_tags:
        raise PublishError(f"no tags to push for {image_ref_local}: give at least one tag")
    name = image_ref_local.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]
    repository = registry.repository(name)
    ordered = sorted(dict.fromkeys(variant_tags), key=lambda t: not tags.is_dated(t))  # dated first
    secret = credentials.password if credentials else None
    auth = {"username": credentials.username, "password": credentials.password} if credentials else None

    try:
        for tag in ordered:  # refuse before anything is pushed
            if tags.is_dated(tag):
                _check_immutable(client, registry, repository, tag, info.id)
    except RegistryError as exc:
        text = _scrub(str(exc), secret)
        again = ": re-run the same command" if "not reachable" in text else ""
        raise PublishError(f"{text}; nothing was pushed{again}") from None

    stream, done, digest = _Stream(), [], None
    try:
        for tag in ordered:
            ref = registry.image_ref(name, tag)
            engine.tag(info.id, ref)
            reporter.info(f"pushing {ref}")
            tag_digest = _push_with_retries(engine, ref, auth, secret, stream, retries, backoff,
                                            registry, done)
            tag_digest = tag_digest or _local_digest(engine, ref, registry.host, repository)
            digest = digest or tag_digest
            _verify(client, registry, repository, tag, tag_digest, digest, secret)
            done.append(ref)
    finally:
        for ref in {registry.image_ref(name, tag) for tag in ordered} - {image_ref_local}:
            engine.untag(ref)  # they were only a means to push: local state keeps its own tags

    artifacts = attach(engine, client, repository, info.id, str(digest), reporter)  # SBOM, provenance
    pushed = [k for k, v in stream.layers.items() if v == "pushed"]
    result = PushResult(variant=info.labels.get(f"{tags.LABEL_PREFIX}.variant", name), refs=tuple(done),
                        digest=str(digest), layers_pushed=len(pushed),
                        layers_existing=len(stream.layers) - len(pushed),
                        bytes_pushed=sum(stream.sizes.get(k, 0) for k in pushed),
                        seconds=time.monotonic() - start, labels=dict(info.labels), artifacts=artifacts)
    reporter.info(f"pushed {len(done)} tags of {registry.host}/{repository} at {result.digest}: "
                  f"{result.layers_pushed} layers uploaded ({result.bytes_pushed / 1e6:.1f} MB), "
                  f"{result.layers_existing} already there, {result.seconds:.1f}s")
    return result


def _check_immutable(client: RegistryClient, registry: RegistryRef, repository: str, tag: str,
                     image_id: str) -> None:
    """A dated tag may be pushed again only with the same image (its config digest is the image id)."""
    remote = client.manifest_digest(repository, tag)
    if remote is None:
        return
    manifest = client.manifest(repository, remote)
    if "manifests" in manifest:  # an index: compare its linux/amd64 image
        amd64 = [m for m in manifest["manifests"] if (m.get("platform") or {}).get("architecture") == "amd64"]
        manifest = client.manifest(repository, amd64[0]["digest"]) if amd64 else {}
    remote_image = (manifest.get("config") or {}).get("digest")
    if remote_image != image_id:
        raise PublishError(f"{registry.host}/{repository}:{tag} already holds digest {remote} (image id "
                           f"{remote_image}), not this image (id {image_id}): {IMMUTABLE_FIX}")


def _push_with_retries(engine: Engine, ref: str, auth: dict | None, secret: str | None, stream: _Stream,
                       retries: int, backoff: float, registry: RegistryRef, done: list[str]) -> str | None:
    for attempt in range(retries + 1):
        stream.error, stream.digest = None, None
        stream.read(engine.push(ref, auth), secret)
        if stream.error is None:
            return stream.digest
        if not TRANSIENT.search(stream.error) or attempt == retries:
            break
        time.sleep(backoff * 2**attempt)
    raise PublishError(_push_failure(stream.error, registry, auth, done))


def _push_failure(error: str, registry: RegistryRef, auth: dict | None, done: list[str]) -> str:
    state = (f"{', '.join(done)} {'is' if len(done) == 1 else 'are'} complete and nothing was half-published"
             if done else "nothing was half-published")
    if REFUSED.search(error):
        user = auth["username"] if auth else None
        who = f"refused the credentials for user {user!r}" if user else "requires credentials"
        return (f"registry {registry.host} {who} ({error}): set IMGBUILD_REGISTRY_USER / "
                f"IMGBUILD_REGISTRY_PASSWORD or run `docker login {registry.host}`; {state}")
    if UNREACHABLE.search(error):
        return (f"registry {registry.host} is not reachable ({_last_clause(error)}): start it or check "
                f"--registry; {state}: re-run the same command")
    return f"push to {registry.host} failed ({error}): {state}: fix the cause and re-run the same command"


def _verify(client: RegistryClient, registry: RegistryRef, repository: str, tag: str,
            pushed: str | None, first: str | None, secret: str | None) -> None:
    where = f"{registry.host}/{repository}:{tag}"
    try:
        remote = client.manifest_digest(repository, tag)
    except RegistryError as exc:
        raise PublishError(f"cannot verify {where}: {_scrub(str(exc), secret)}") from None
    if pushed is None or remote != pushed:
        raise PublishError(f"{where} reads back as {remote} but docker pushed {pushed}: something rewrote "
                           "the manifest (a proxy, or a concurrent push); re-run, then check the registry")
    if pushed != first:
        raise PublishError(f"{where} got {pushed} but the dated tag got {first}: the local image changed "
                           "during the push; re-run the same command")


def _local_digest(engine: Engine, ref: str, host: str, repository: str) -> str | None:
    info = engine.image(ref)
    prefix = f"{host}/{repository}@"
    found = [d.removeprefix(prefix) for d in (info.digests if info else ()) if d.startswith(prefix)]
    return found[0] if found else None


def _last_clause(error: str) -> str:
    return error.rsplit(": ", 1)[-1].strip() or error


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
