"""Tested Image -> registry. Push every tag, verify digests, keep dated tags immutable.

A tag appears in a registry only when its manifest is written, after all its layers are there, so a failed
push never leaves a half-written tag; pushing the dated tag first (and verifying it) means a moving tag
never points at a digest that the immutable tag does not also name. The release manifest and the
tag catalog (`release.json`, `TAGS.md`) live in the release stage.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..build.image import Image
from ..core import tags
from ..core.errors import ImgbuildError, PublishError, RegistryError
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..host.preflight import check_registry
from ..registry.referrers import upload_refusal
from ..registry.target import RegistryTarget
from ..smoke.record import Tested, tested_record
from .attach import attach
from .immutable import dated_tag_holds
from .tested import mark_tested
from .zstd import Twin, push_twin

# What a retry can fix: the registry restarting, a proxy hiccup, rate limiting.
# What imgbuild re-runs `docker push` for: a registry that refused the connection (restarting: Docker gave up at
# once) or a push that stalled. Answers Docker already retried per layer (5xx, 429, a reset) are not re-run on top.
RERUN = re.compile(r"connection refused|stalled", re.IGNORECASE)
PROGRESS_S = 30  # a long upload says how far it is this often, so a slow push is told from a stuck one
STALL_S = 120  # a push that says nothing this long is stalled (a frozen registry): given up, run again once
# A registry that dies mid-push: Docker's containerd store says `Post "...": EOF` (the connection closed) or a reset.
UNREACHABLE = re.compile(r'connection refused|no such host|dial tcp|i/o timeout|timed out|stalled|": EOF$|'
                         r"connection reset|broken pipe", re.IGNORECASE)
REFUSED = re.compile(r"unauthorized|authentication required|no basic auth credentials|denied", re.IGNORECASE)
IMMUTABLE_FIX = "rebuild tomorrow or push under a new date"


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
    zstd: Twin | None = None  # the same image with zstd layers, under TAG-zstd
    tested_marker: str | None = None  # None: the registry's tested marker was written; else why it was not


# --- the tested gate ----------------------------------------------------------------------------------


def local_image(engine: Engine, ref: ImageRef) -> Image:
    """A local image to push by reference, with every tag it carries in its repository."""
    info = engine.image(ref)
    if info is None:
        raise PublishError(f"no local image {ref}: build it first (`imgbuild build ...`)")
    return Image.from_info(ref, info)


def push_local(refs: list[ImageRef], engine: Engine, target: RegistryTarget, reporter: Reporter, *,
               allow_untested: bool = False, variants: Sequence[Variant] = ()) -> list[PushResult]:
    """`imgbuild push`: each local image by reference, gated by the verdict an earlier `imgbuild test` kept; the
    registry is asked first (seconds), before any layer moves. `variants`: the matrix's, to know each image's
    (from its labels), and so the tags it is pushed under."""
    check_registry(target)
    results = []
    for ref in refs:
        image = local_image(engine, ref)
        # By id alone: a team's image of a variant (same id, another repository) is pushed under the same tags.
        variant = next((v for v in variants if v.id == image.labels.get(tags.VARIANT_LABEL)), None)
        image = replace(image, variant=variant) if variant else image
        results.append(push_image(engine, image, target, tested_record(image.id), reporter=reporter,
                                  allow_untested=allow_untested))
    return results


# --- push ---------------------------------------------------------------------------------------------

@dataclass
class PushStream:
    """What one `docker push` said: per-layer outcome and size, the digest, the error if any."""

    layers: dict[str, str] = field(default_factory=dict)  # layer id -> pushed | existing
    sizes: dict[str, int] = field(default_factory=dict)
    digest: str | None = None
    error: str | None = None
    sent: dict[str, int] = field(default_factory=dict)  # layer id -> bytes uploaded so far
    tell: Callable[[str], None] | None = None  # where the progress lines go
    told_at: float | None = None

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
                self.sent[layer] = int(detail.get("current") or 0)
                self._progress()
            elif status == "Pushed" and layer:
                self.layers[layer] = "pushed"
            elif (status == "Layer already exists" or status.startswith("Mounted from")) and layer:
                self.layers.setdefault(layer, "existing")
        return self

    def _progress(self) -> None:
        now = time.monotonic()
        self.told_at = now if self.told_at is None else self.told_at
        if self.tell and now - self.told_at >= PROGRESS_S:
            self.told_at = now
            busy = [k for k in self.sent if k not in self.layers]
            self.tell(f"{sum(self.sent[k] for k in busy) / 1e6:,.0f} of {sum(self.sizes[k] for k in busy) / 1e6:,.0f}"
                      f" MB of {len(busy)} layer{'s' if len(busy) != 1 else ''} sent")


def push_image(engine: Engine, image: Image, target: RegistryTarget, tested: Tested | None, *,
               reporter: Reporter, allow_untested: bool = False, retries: int = 2,
               backoff: float = 2.0, stall: float = STALL_S) -> PushResult:
    """Push a tested local image under every tag it carries to REGISTRY/NS/<image name>, then verify. `stall`:
    seconds a `docker push` may say nothing before it is given up as stalled (tests make it short)."""
    start = time.monotonic()
    passed = tested is not None and tested.image_id == image.id and tested.passed
    if not allow_untested and not passed:
        raise PublishError(f"image {image.ref} was not tested (or failed its smoke test): run "
                           f"`imgbuild test {image.ref}` first, or pass --allow-untested")
    if not image.tags:
        raise PublishError(f"no tags to push for {image.ref}: give at least one tag")
    name = image.ref.name
    repository = target.ref.repository(name)
    # A platform's image of a multi-platform build goes under its platform's tags: the plain ones name the index.
    pushed = [tags.pushed_tag(t, image.variant) for t in image.tags] if image.variant else image.tags
    ordered = sorted(dict.fromkeys(pushed), key=lambda t: not tags.is_dated(t))  # dated first

    try:
        for tag in ordered:  # refuse before anything is pushed
            dated_tag_holds(target.client, repository, tag, None, image_id=image.id, fix=IMMUTABLE_FIX)
    except RegistryError as exc:
        text = target.scrub(str(exc))
        again = ": re-run the same command" if "not reachable" in text else ""
        raise RegistryError(f"{text}; nothing was pushed{again}") from None  # the registry's kind, as anywhere

    stream, done, digest = PushStream(), [], None
    remote = [target.ref.image_ref(name, tag) for tag in ordered]
    try:
        for ref in remote:
            engine.tag(image.id, ref)
            reporter.info(f"pushing {ref}")
            stream.tell = lambda text, ref=ref: reporter.info(f"pushing {ref}: {text}")
            tag_digest = _push_with_retries(engine, ref, target, stream, retries, backoff, done, stall)
            tag_digest = _verify(target, ref, tag_digest or _local_digest(engine, ref), image.id)
            digest = digest or tag_digest
            if tag_digest != digest:
                raise PublishError(f"{ref} got {tag_digest} but the dated tag got {digest}: the local image "
                                   "changed during the push; re-run the same command")
            done.append(ref)
    except (RegistryError, PublishError) as exc:
        if not done:
            raise
        # the tags pushed so far hold the image: the line says what they lack and which tags are not there yet
        raise _half_done(exc, done, str(digest), target, twin=not target.zstd,
                         left=[str(ref.tag) for ref in remote[len(done):]]) from None
    finally:
        for ref in remote:
            if ref not in image.refs:
                engine.untag(ref)  # they were only a means to push: local state keeps its own tags

    twin, artifacts = None, {}
    try:
        if target.zstd:
            reporter.info(f"writing the zstd twin of {done[0]}")
            twin = push_twin(target.client, repository, str(digest), [str(ref.tag) for ref in done])
        artifacts = attach(engine, target.client, repository, image.id, str(digest), reporter)  # SBOM, provenance
    except (RegistryError, PublishError) as exc:
        raise _half_done(exc, done, str(digest), target, twin=twin is not None or not target.zstd) from None
    marker = _mark(target, repository, str(digest), done[0], reporter) if passed else "not tested"
    pushed = [k for k, v in stream.layers.items() if v == "pushed"]
    result = PushResult(variant=image.labels.get(tags.VARIANT_LABEL, name), refs=tuple(done),
                        digest=str(digest), layers_pushed=len(pushed),
                        layers_existing=len(stream.layers) - len(pushed),
                        bytes_pushed=sum(stream.sizes.get(k, 0) for k in pushed),
                        seconds=time.monotonic() - start, labels=dict(image.labels), artifacts=artifacts,
                        zstd=twin, tested_marker=marker)
    zstd = f"; zstd twin {twin.digest} ({twin.layers_converted} layers recompressed, {twin.seconds:.1f}s)" \
        if twin else ""
    reporter.info(f"pushed {len(done)} tags of {target.host}/{repository} at {result.digest}: "
                  f"{result.layers_pushed} layers uploaded ({result.bytes_pushed / 1e6:.1f} MB), "
                  f"{result.layers_existing} already there, {result.seconds:.1f}s{zstd}")
    return result


def _half_done(exc: RegistryError | PublishError, done: list[ImageRef], digest: str, target: RegistryTarget, *,
               twin: bool, left: Sequence[str] = ()) -> ImgbuildError:
    """The tags are published but what goes beside them is not all there: the line says which were, what is missing
    (`left`: tags not pushed yet) and that a re-run (which finds the tags holding this image) attaches the rest."""
    missing = ("" if twin else "zstd twin, ") + "SBOM, provenance and tested marker"
    missing += f", and {', '.join(left)} {'is' if len(left) == 1 else 'are'} not pushed" if left else ""
    tagged = ", ".join(str(ref.tag) for ref in done)
    cause = target.scrub(str(exc)).rstrip(".")
    # unreachable or refused: the registry's kind (7); any other failure of the upload: publishing's (6)
    registry_side = isinstance(exc, RegistryError) and re.search(r"not reachable|credentials|denied", str(exc))
    kind = RegistryError if registry_side else PublishError
    return kind(f"{target.host}/{done[0].repository} {tagged} {'is' if len(done) == 1 else 'are'} published at "
                     f"{digest}, without its {missing} ({cause}): re-run the same command to attach them")


def _mark(target: RegistryTarget, repository: str, digest: str, ref: ImageRef, reporter: Reporter) -> str | None:
    """The one writer of the registry's tested marker: after every tag, the twin and the referrers are there, for
    any image pushed with a passing report (a team's too), so a join or tomorrow's skip can read the verdict."""
    try:
        mark_tested(target.client, repository, digest)
        return None
    except ImgbuildError as exc:  # pushed all the same: only a join or a later skip cannot see the verdict
        reporter.info(f"{ref}: the tested marker was not written ({exc}); a re-run of the same command writes it")
        return f"not written: {exc}"


def _push_with_retries(engine: Engine, ref: ImageRef, target: RegistryTarget, stream: PushStream,
                       retries: int, backoff: float, done: list[ImageRef], stall: float) -> str | None:
    for attempt in range(retries + 1):
        stream.error, stream.digest = None, None
        stream.read(engine.push(ref, target.docker_auth(), stall=stall), target.scrub)
        if stream.error is None:
            return stream.digest
        if not RERUN.search(stream.error) or attempt == retries:
            break
        time.sleep(backoff * 2**attempt)
    error = stream.error or ""
    # One kind, one exit code wherever it happens: a registry that cannot be reached or refuses the credentials is
    # the registry's (7), as at the preflight; anything else a failed push (6).
    kind = RegistryError if REFUSED.search(error) or UNREACHABLE.search(error) else PublishError
    if kind is PublishError and (why := upload_refusal(target.client, ref.repository)):  # Docker names a status
        error = f"{error}; {why}"  # the registry's own answer says why (a full disk)
    raise kind(_push_failure(error, target, done))


def _push_failure(error: str, target: RegistryTarget, done: list[ImageRef]) -> str:
    """The line of a failed `docker push`; where tags are published already, its cause alone (_half_done's)."""
    if REFUSED.search(error):
        user = target.credentials.username if target.credentials else None
        who = f"refused the credentials for user {user!r}" if user else "requires credentials"
        cause = f"registry {target.host} {who} ({error})"
        fix = (f"set IMGBUILD_REGISTRY_USER / IMGBUILD_REGISTRY_PASSWORD or run `docker login {target.host}`; "
               "nothing was half-published")
    elif UNREACHABLE.search(error):
        cause = f"registry {target.host} is not reachable ({_last_clause(error)})"
        fix = "start it or check --registry; nothing was half-published: re-run the same command"
    else:
        cause = f"push to {target.host} failed ({error})"
        fix = "nothing was half-published: fix the cause and re-run the same command"
    return cause if done else f"{cause}: {fix}"


def _verify(target: RegistryTarget, ref: ImageRef, pushed: str | None, image_id: str) -> str:
    """The digest the registry holds under `ref`'s tag, checked against what the engine said it pushed. Podman's
    Docker-compatible API names a digest other than the one it wrote; there the tag is accepted when its manifest's
    config is this image (the config's digest is the image id), and the registry's digest is the one recorded. In the
    containerd image store the image id is the manifest's digest, pushed as it is."""
    where = str(ref)
    try:
        remote = target.client.manifest_digest(ref.repository, ref.tag or "")
        config = (target.client.image_manifest(ref.repository, remote).get("config") or {}).get("digest") \
            if remote and remote != pushed else None
    except RegistryError as exc:
        raise PublishError(f"cannot verify {where}: {target.scrub(str(exc))}") from None
    if remote is None or (remote != pushed and image_id not in (config, remote)):
        raise PublishError(f"{where} reads back as {remote} but the engine pushed {pushed}: something rewrote "
                           "the manifest (a proxy, or a concurrent push); re-run, then check the registry")
    return remote


def _local_digest(engine: Engine, ref: ImageRef) -> str | None:
    """The digest the engine recorded for `ref`'s repository when the push stream named none."""
    info = engine.image(ref)
    found = [parsed.digest for d in (info.digests if info else ())
             if (parsed := ImageRef.parse(d)).same_repository(ref) and parsed.digest]
    return found[0] if found else None


def _last_clause(error: str) -> str:
    """Docker's innermost cause ("connection refused" of "Put ...: dial tcp ...: connection refused"); a stall is
    kept whole, so the line says it stalled ("stalled: nothing moved for 120 s")."""
    if error.startswith("stalled"):
        return error
    return error.split(": ")[-1].strip() or error
