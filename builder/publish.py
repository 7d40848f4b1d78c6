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
from typing import Protocol

from . import tags
from .attest import attach
from .build import Image
from .engine import Engine
from .errors import PublishError, RegistryError, writing
from .paths import WORK_DIR
from .progress import Reporter
from .reference import ImageRef
from .registry import RegistryClient, RegistryRef, RegistryTarget
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
    refs: tuple[ImageRef, ...]  # every HOST/NS/IMAGE:TAG pushed, the dated one first
    digest: str
    layers_pushed: int
    layers_existing: int  # already in the registry (or mounted from another repository of it)
    bytes_pushed: int  # uncompressed sizes of the uploaded layers, as docker reports them
    seconds: float
    labels: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # sbom / provenance -> digest of the referrer pushed


# --- the tested gate ----------------------------------------------------------------------------------

class Tested(Protocol):
    """What the gate reads of a smoke result: a SmokeReport in hand, or a TestRecord of an earlier run."""

    @property
    def image_id(self) -> str: ...

    @property
    def passed(self) -> bool: ...


@dataclass(frozen=True)
class TestRecord:
    """The persisted verdict of `imgbuild test` on one image id, for a later `imgbuild push` run."""

    __test__ = False  # not a pytest class
    image_id: str
    passed: bool


def _record_path(image_id: str, work_dir: Path) -> Path:
    return Path(work_dir) / "tested" / f"{image_id.removeprefix('sha256:')}.json"


def record_tested(report: SmokeReport, work_dir: Path = WORK_DIR) -> Path:
    """Remember the smoke result of this exact image id (a rebuild is a new id and needs a new test)."""
    path = _record_path(report.image_id, work_dir)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(report.to_json())
        tmp.replace(path)  # a reader never sees half a record
    return path


def tested_record(image_id: str, work_dir: Path = WORK_DIR) -> TestRecord | None:
    """The record an earlier `imgbuild test` left for this image id, or None (never tested, or unreadable)."""
    try:
        record = json.loads(_record_path(image_id, work_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return TestRecord(image_id=str(record.get("image_id") or image_id), passed=record.get("passed") is True)


def local_image(engine: Engine, ref: ImageRef) -> Image:
    """A local image to push by reference, with every tag it carries in its repository."""
    info = engine.image(ref)
    if info is None:
        raise PublishError(f"no local image {ref}: build it first (`imgbuild build ...`)")
    return Image.from_info(ref, info)


# --- push ---------------------------------------------------------------------------------------------

@dataclass
class PushStream:
    """What one `docker push` said: per-layer outcome and size, the digest, the error if any."""

    layers: dict[str, str] = field(default_factory=dict)  # layer id -> pushed | existing
    sizes: dict[str, int] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None

    def read(self, messages: Iterable[dict], scrub=lambda text: text) -> PushStream:
        for msg in messages:
            status, layer = str(msg.get("status") or ""), str(msg.get("id") or "")
            if "error" in msg:
                self.error = scrub(str(msg.get("error") or msg.get("errorDetail")))
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


def push_image(engine: Engine, image: Image, target: RegistryTarget, tested: Tested | None, *,
               reporter: Reporter, allow_untested: bool = False, retries: int = 3,
               backoff: float = 2.0) -> PushResult:
    """Push a tested local image under every tag it carries to REGISTRY/NS/<image name>, then verify."""
    start = time.monotonic()
    passed = tested is not None and tested.image_id == image.id and tested.passed
    if not allow_untested and not passed:
        raise PublishError(f"image {image.ref} was not tested (or failed its smoke test): run "
                           f"`imgbuild test {image.ref}` first, or pass --allow-untested")
    if not image.tags:
        raise PublishError(f"no tags to push for {image.ref}: give at least one tag")
    name, registry, client = image.ref.name, target.ref, target.client
    repository = registry.repository(name)
    ordered = sorted(dict.fromkeys(image.tags), key=lambda t: not tags.is_dated(t))  # dated first

    try:
        for tag in ordered:  # refuse before anything is pushed
            if tags.is_dated(tag):
                _check_immutable(client, registry, repository, tag, image.id)
    except RegistryError as exc:
        text = target.scrub(str(exc))
        again = ": re-run the same command" if "not reachable" in text else ""
        raise PublishError(f"{text}; nothing was pushed{again}") from None

    stream, done, digest = PushStream(), [], None
    remote = [registry.image_ref(name, tag) for tag in ordered]
    try:
        for ref in remote:
            engine.tag(image.id, ref)
            reporter.info(f"pushing {ref}")
            tag_digest = _push_with_retries(engine, ref, target, stream, retries, backoff, done)
            tag_digest = tag_digest or _local_digest(engine, ref)
            digest = digest or tag_digest
            _verify(target, ref, tag_digest, digest)
            done.append(ref)
    finally:
        for ref in remote:
            if ref not in image.refs:
                engine.untag(ref)  # they were only a means to push: local state keeps its own tags

    artifacts = attach(engine, client, repository, image.id, str(digest), reporter)  # SBOM, provenance
    pushed = [k for k, v in stream.layers.items() if v == "pushed"]
    result = PushResult(variant=image.labels.get(f"{tags.LABEL_PREFIX}.variant", name), refs=tuple(done),
                        digest=str(digest), layers_pushed=len(pushed),
                        layers_existing=len(stream.layers) - len(pushed),
                        bytes_pushed=sum(stream.sizes.get(k, 0) for k in pushed),
                        seconds=time.monotonic() - start, labels=dict(image.labels), artifacts=artifacts)
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


def _push_with_retries(engine: Engine, ref: ImageRef, target: RegistryTarget, stream: PushStream,
                       retries: int, backoff: float, done: list[ImageRef]) -> str | None:
    for attempt in range(retries + 1):
        stream.error, stream.digest = None, None
        stream.read(engine.push(ref, target.docker_auth()), target.scrub)
        if stream.error is None:
            return stream.digest
        if not TRANSIENT.search(stream.error) or attempt == retries:
            break
        time.sleep(backoff * 2**attempt)
    raise PublishError(_push_failure(stream.error or "", target, done))


def _push_failure(error: str, target: RegistryTarget, done: list[ImageRef]) -> str:
    registry = target.ref
    state = (f"{', '.join(map(str, done))} {'is' if len(done) == 1 else 'are'} complete and nothing was "
             "half-published" if done else "nothing was half-published")
    if REFUSED.search(error):
        user = target.credentials.username if target.credentials else None
        who = f"refused the credentials for user {user!r}" if user else "requires credentials"
        return (f"registry {registry.host} {who} ({error}): set IMGBUILD_REGISTRY_USER / "
                f"IMGBUILD_REGISTRY_PASSWORD or run `docker login {registry.host}`; {state}")
    if UNREACHABLE.search(error):
        return (f"registry {registry.host} is not reachable ({_last_clause(error)}): start it or check "
                f"--registry; {state}: re-run the same command")
    return f"push to {registry.host} failed ({error}): {state}: fix the cause and re-run the same command"


def _verify(target: RegistryTarget, ref: ImageRef, pushed: str | None, first: str | None) -> None:
    where = str(ref)
    try:
        remote = target.client.manifest_digest(ref.repository, ref.tag or "")
    except RegistryError as exc:
        raise PublishError(f"cannot verify {where}: {target.scrub(str(exc))}") from None
    if pushed is None or remote != pushed:
        raise PublishError(f"{where} reads back as {remote} but docker pushed {pushed}: something rewrote "
                           "the manifest (a proxy, or a concurrent push); re-run, then check the registry")
    if pushed != first:
        raise PublishError(f"{where} got {pushed} but the dated tag got {first}: the local image changed "
                           "during the push; re-run the same command")


def _local_digest(engine: Engine, ref: ImageRef) -> str | None:
    """The digest the engine recorded for `ref`'s repository when the push stream named none."""
    info = engine.image(ref)
    found = [parsed.digest for d in (info.digests if info else ())
             if (parsed := ImageRef.parse(d)).same_repository(ref) and parsed.digest]
    return found[0] if found else None


def _last_clause(error: str) -> str:
    return error.split(": ")[-1].strip() or error
