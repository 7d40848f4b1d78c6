"""Tested Image -> registry. Push every tag, verify digests, keep dated tags immutable.

A tag appears in a registry only when its manifest is written, after all its layers are there, so a failed
push never leaves a half-written tag; pushing the dated tag first (and verifying it) means a moving tag
never points at a digest that the immutable tag does not also name. The release manifest and the
tag catalog (`release.json`, `TAGS.md`) live in the release stage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..build.image import Image
from ..core import tags
from ..core.errors import ImgbuildError, PublishError, RegistryError, RegistryRefused, RegistryUnreachable
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..host.preflight import check_registry
from ..registry.target import RegistryTarget
from ..smoke.record import Tested, tested_record
from .attach import attach
from .docker_push import STALL_S, PushStream, push_tag
from .immutable import dated_tag_holds
from .tested import mark_tested
from .zstd import Twin, push_twin

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
            tag_digest = push_tag(engine, ref, target, stream, retries=retries, backoff=backoff, done=done, stall=stall)
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
    kind = RegistryError if isinstance(exc, (RegistryUnreachable, RegistryRefused)) else PublishError
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
