"""An image's SBOM and provenance (sealed into it by the build), pushed as OCI artifacts whose subject is the pushed
digest."""

from __future__ import annotations

import json

from ..build import provenance, sbom
from ..core.output import Reporter
from ..engine.daemon import Engine
from ..registry.client import RegistryClient
from ..registry.referrers import Descriptor, push_artifact, subject_of


def attach(engine: Engine, client: RegistryClient, repository: str, image_id: str, digest: str,
           reporter: Reporter) -> dict[str, str]:
    """Push the image's SBOM and provenance as referrers of `digest`; {kind: artifact digest}. An image built
    without them (by an older imgbuild, or by hand) gets none, and says so."""
    document = engine.read_file(image_id, sbom.SBOM_PATH)
    predicate = engine.read_file(image_id, provenance.PREDICATE_PATH)
    if document is None or predicate is None:
        reporter.info(f"{image_id[:19]} carries no SBOM or provenance: pushed without them")
        return {}
    subject: Descriptor = subject_of(client, repository, digest)
    statement = provenance.statement(provenance.for_this_run(json.loads(predicate)), f"{client.host}/{repository}",
                                     digest)
    found = {
        "sbom": push_artifact(client, repository, subject, sbom.MEDIA_TYPE, document, "sbom.cdx.json"),
        "provenance": push_artifact(client, repository, subject, provenance.MEDIA_TYPE, statement,
                                    "provenance.intoto.json"),
    }
    reporter.info(f"attached to {client.host}/{repository}@{digest}: "
                  + ", ".join(f"{kind} {value}" for kind, value in found.items()))
    return found
