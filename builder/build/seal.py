"""An image's SBOM and provenance, sealed into the image at build time (publish/attach.py pushes them beside its
digest): after the main build, the image runs once to list what it holds; the host writes the CycloneDX SBOM and the
provenance predicate, and a second build `FROM <image id>` copies both into /opt/imgbuild/ as the last layer
(seconds: every layer above is reused), before any tag is applied.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core.contract import FIXED_MTIME
from ..core.output import Reporter
from ..core.reference import ImageRef
from ..core.variant import Variant
from ..engine.daemon import Engine
from . import provenance, sbom

SEAL_REPOSITORY = "imgbuild-unsealed"
# A RUN, not COPY (which dates the folder it writes into now): the files and their folder are dated at FIXED_MTIME,
# so the same image gives the same sealed image. As root, and back to the image's own user.
SEAL_DOCKERFILE = """FROM {image}
{as_root}RUN --mount=type=bind,target=/tmp/imgbuild-seal cp /tmp/imgbuild-seal/sbom.cdx.json \\
    /tmp/imgbuild-seal/provenance.json {folder}/ && touch -d @{mtime} {folder} {folder}/sbom.cdx.json \\
    {folder}/provenance.json
{as_user}"""


@dataclass(frozen=True)
class BuildFacts:
    """What the provenance says about one build, gathered by the build stage."""

    source: str
    revision: str
    base_image: str
    base_digest: str  # the one the inputs digest hashed: the pulled manifest's digest, else the local image id
    options: Mapping[str, object]  # build options that change the image's content
    started: dt.datetime
    fixed_time: bool = False  # started is a fixed time (SOURCE_DATE_EPOCH, `reproduce`): the image is reproducible


def seal(engine: Engine, image_id: str, variant: Variant, facts: BuildFacts, work_dir: Path, log: IO[str],
         reporter: Reporter) -> str:
    """Add the SBOM and the provenance predicate to the image as its last layer; returns the new image id."""
    start = time.monotonic()
    inventory = sbom.collect(engine, image_id)
    document = sbom.cyclonedx_json(inventory, variant, image_id, facts.started)
    # at a fixed time (SOURCE_DATE_EPOCH) the image must not say when or in which run it was built: that is the
    # registry's attestation's to say (publish/attach.py)
    fixed = facts.fixed_time
    predicate = provenance.predicate(
        variant, source=facts.source, revision=facts.revision, base_image=facts.base_image,
        base_image_id=facts.base_digest, lock_sha256=inventory.lock_sha256, options=facts.options,
        started=facts.started, finished=None if fixed else dt.datetime.now(dt.timezone.utc), run_details=not fixed)
    context = work_dir / "sealed" / variant.id
    context.mkdir(parents=True, exist_ok=True)
    # BuildKit reads a bare "sha256:..." in FROM as a Docker Hub name: the image is named for the moment instead.
    unsealed = ImageRef(SEAL_REPOSITORY, tag=image_id.split(":")[-1][:64])
    engine.tag(image_id, unsealed)
    user = (info.user if (info := engine.image(image_id)) else "") or ""
    (context / "Dockerfile").write_text(SEAL_DOCKERFILE.format(
        image=unsealed, folder=Path(sbom.SBOM_PATH).parent, mtime=FIXED_MTIME,
        as_root="USER root\n" if user else "", as_user=f"USER {user}\n" if user else ""))
    (context / "sbom.cdx.json").write_text(document)
    (context / "provenance.json").write_text(json.dumps(predicate, indent=2, sort_keys=True) + "\n")
    epoch = {"SOURCE_DATE_EPOCH": str(int(facts.started.timestamp()))} if fixed else {}
    try:
        sealed = engine.build(context, buildargs=epoch, labels={}, network="none", nocache=False, log=log,
                              on_step=lambda *_: None)
    finally:
        engine.untag(unsealed)
    engine.forget(image_id)  # the unsealed image: every layer of it is the sealed one's too
    reporter.info(f"SBOM of {variant.id}: {len(inventory.python)} Python and {len(inventory.os)} OS packages, "
                  f"{len(document) / 1024:.0f} KiB, sealed with its provenance in {time.monotonic() - start:.1f}s")
    return sealed
