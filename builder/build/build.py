"""Variant -> Image: render into the work folder, add the site's CA certificates, build through the engine with the
wheelhouse served, seal the SBOM and provenance in, then tag. Tags are applied only after success."""

from __future__ import annotations

import hashlib
import time
from contextlib import nullcontext

from ..core import tags
from ..core.errors import BuildError, writing
from ..core.output import Reporter
from ..core.platform import engine_platform
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.daemon import Engine
from ..host.preflight import before_build
from ..lock.resolve import resolve_missing
from ..lock.wheelhouse import serve
from ..render.context import BuildContext
from ..render.inputs import BASE_DIGEST_LABEL, inputs_labels
from ..render.render import render
from . import seal
from .cache import registry_cache
from .failures import explain_failure
from .image import Image
from .options import BuildOptions, certificates, content_options, revision, source, torch_index


def build_all(variants: list[Variant], engine: Engine, options: BuildOptions, reporter: Reporter) -> list[Image]:
    """`imgbuild build`: the preflight (the engine's builder, each base), a lock for each variant that has none, then
    each image in order (a variant's own image before its team images). The options were checked where they were
    read (`check_options`)."""
    for line in before_build(engine, [v for v in variants if v.kind.starts_from_base]):
        reporter.info(line)
    for lock in resolve_missing(variants, find_links=options.wheelhouse):
        reporter.info(f"{lock.variant} had no current lock: resolved one now into {lock.path} ({len(lock.pins)} "
                      "packages; commit it to publish this variant, as `release` and `push` never resolve a lock)")
    return [build(variant, engine, options, reporter) for variant in variants]


def build(variant: Variant, engine: Engine, options: BuildOptions, reporter: Reporter) -> Image:
    """Build one image and tag it with every tag of its scheme. An image built FROM another of ours (a team's) has
    that one built first when it is not here. `options` are checked ones (`check_options`)."""
    for below in variant.kind.built_first(variant):
        if engine.image(tags.local_ref(below)) is None:
            reporter.info(f"{variant.image}: building its base {tags.local_ref(below)} first")
            build(below, engine, options, reporter)
    ctx = prepare(variant, options)
    return build_context(ctx, engine, options, reporter, variant.kind.build_args(torch_index(variant, options)))


def prepare(variant: Variant, options: BuildOptions) -> BuildContext:
    """Render into the work folder and add the site's certificate authorities where the context takes them."""
    contexts = options.work_dir / "contexts"
    with writing(contexts):
        ctx = render(variant, contexts)
        if ctx.ca_certificates.is_dir():
            for cert in options.ca_certs:
                # update-ca-certificates reads only *.crt; the content hash keeps the layer cache stable.
                pem = certificates(cert)
                (ctx.ca_certificates / (hashlib.sha256(pem).hexdigest()[:12] + ".crt")).write_bytes(pem)
    return ctx


def base_digest(engine: Engine, base_image: str) -> str:
    """The registry digest the base image was pulled by, else its local image id (an imported base): what the
    inputs digest hashes of the base (render/inputs.py)."""
    info = engine.image(base_image)
    if info is None:
        raise BuildError(f"base image {base_image} is not on this machine: pull it (`docker pull {base_image}`) "
                         "or pass --base-image")
    repository = ImageRef.parse(base_image).full_repository
    pulled = sorted(d.split("@", 1)[1] for d in info.digests if d.split("@", 1)[0] == repository)
    return pulled[0] if pulled else info.id


def build_context(ctx: BuildContext, engine: Engine, options: BuildOptions, reporter: Reporter,
                  args: dict[str, str]) -> Image:
    """Build a rendered context (the wheelhouse served meanwhile) and tag it with its variant's tags."""
    variant, name = ctx.variant, ctx.variant.name
    logs = options.work_dir / "logs"
    log_path = (logs / f"{name}.build.log").resolve()
    created = options.created or tags.build_time()
    fixed = options.created is not None or tags.fixed_time()
    base = tags.built_from(variant)
    inputs = inputs_labels(ctx.path, base_digest(engine, base))
    facts = seal.BuildFacts(source(), revision(), base, inputs[BASE_DIGEST_LABEL], content_options(variant, options),
                            created, fixed)
    labels = tags.build_labels(variant, created, facts.revision, facts.source) | inputs
    start = time.monotonic()
    reporter.info(f"building {name} (log: {log_path})")
    with writing(log_path):
        logs.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed below; OSError named above)
    if fixed:  # BuildKit then dates the image config and its history at this time
        args |= {"SOURCE_DATE_EPOCH": str(int(created.timestamp()))}
    with log, (serve(options.wheelhouse) if options.wheelhouse else nullcontext(None)) as find_links:
        if find_links:
            args |= {"PIP_FIND_LINKS": find_links, "PIP_TRUSTED_HOST": find_links.split("/")[2]}
        with reporter.task(f"build {name}") as update:
            try:
                image_id = engine.build(ctx.path, buildargs=args, labels=labels, network=options.network.value,
                                        nocache=options.no_cache, log=log, on_step=update,
                                        platform=engine_platform(variant.platform), builder=options.builder,
                                        cache=registry_cache(variant, options.cache_registry))
            except BuildError as exc:
                log.flush()
                raise (explain_failure(variant, log_path) or exc) from None
        image_id = seal.seal(engine, image_id, variant, facts, options.work_dir, log, reporter)
    local = ImageRef(tags.local_repository(variant))
    refs = tuple(local.with_tag(tag) for tag in tags.tags(variant, options.date))
    for ref in refs:
        engine.tag(image_id, ref)
    info = engine.image(image_id)
    if info is None:
        raise BuildError(f"image {image_id} vanished after the build of {name}; see {log_path}")
    seconds = time.monotonic() - start
    image = Image(id=image_id, ref=local.with_tag(tags.release_tag(variant)), refs=refs, labels=dict(info.labels),
                  size=info.size, variant=variant, seconds=seconds, log=log_path)
    reporter.info(f"built {name} in {seconds:.0f}s: {image.ref} ({info.size / 1e9:.2f} GB)")
    return image
