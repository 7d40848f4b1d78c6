"""How an image was built, as an in-toto Statement v1 with a SLSA provenance v1 predicate.

The predicate is written at build time (everything is known but the registry digest) and kept in the image beside
its SBOM; publishing wraps it in a Statement whose subject is the digest that was pushed. Only what changes the
image's content goes in: no paths of this machine, no URLs of a loopback wheel server, no credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from importlib.metadata import version as installed_version

from ..core.tags import release_tag
from ..core.variant import Variant

PREDICATE_PATH = "/opt/imgbuild/provenance.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/imgbuild/imgbuild/buildtypes/image/v1"
MEDIA_TYPE = "application/vnd.in-toto+json"


def builder_id(env: Mapping[str, str] = os.environ) -> str:
    """The nightly's workflow (owner/repo/.github/workflows/nightly.yml@ref) on GitHub; else this imgbuild."""
    if env.get("GITHUB_WORKFLOW_REF"):
        return f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_WORKFLOW_REF']}"
    return f"https://github.com/imgbuild/imgbuild@v{installed_version('imgbuild')}"


def invocation_id(env: Mapping[str, str] = os.environ) -> str | None:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return (f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
                f"/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}")
    return None


def predicate(variant: Variant, *, source: str, revision: str, base_image: str, base_image_id: str,
              lock_sha256: str, options: Mapping[str, object], started: dt.datetime, finished: dt.datetime | None,
              env: Mapping[str, str] = os.environ, run_details: bool = True) -> dict:
    """The SLSA v1 predicate: the matrix entry and content-changing options as parameters, the source revision,
    base image and lock as resolved dependencies, the builder and the build's times. Without `run_details` (a build
    at a fixed SOURCE_DATE_EPOCH, whose image must be the same from any run) the times are that one and the run's
    id is left out."""
    dependencies = [
        {"uri": f"git+{source}@{revision}", "digest": {"gitCommit": revision}},
        {"uri": f"docker-image://{base_image}", "digest": {"sha256": base_image_id.removeprefix("sha256:")},
         "annotations": {"note": "the base image's local image id (config digest)"}},
    ]
    if lock_sha256:
        dependencies.append({"uri": "file:///opt/imgbuild/requirements.lock", "digest": {"sha256": lock_sha256}})
    metadata = {"startedOn": _time(started)} | ({"finishedOn": _time(finished)} if finished else {})
    if run_details and (run := invocation_id(env)):
        metadata["invocationId"] = run
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"variant": {**variant.summary(), "base_image": base_image},  # as built
                                   "tag": release_tag(variant),
                                   "source": {"uri": source, "revision": revision}},
            "internalParameters": dict(sorted(options.items())),
            "resolvedDependencies": dependencies,
        },
        "runDetails": {"builder": {"id": builder_id(env if run_details else {}),
                                   "version": {"imgbuild": installed_version("imgbuild")}},
                       "metadata": metadata},
    }


def for_this_run(predicate_doc: dict, env: Mapping[str, str] = os.environ) -> dict:
    """The predicate of an image built at a fixed time, which names only imgbuild as its builder, completed for the
    registry with the run that publishes it (the nightly builds and pushes in one run): its workflow and run id."""
    details = predicate_doc.get("runDetails")
    if not isinstance(details, dict) or not isinstance(details.get("metadata"), dict):
        return predicate_doc
    if "invocationId" not in details["metadata"] and (run := invocation_id(env)):
        details["metadata"]["invocationId"] = run
        details["builder"] = {**details.get("builder", {}), "id": builder_id(env)}
    return predicate_doc


def statement(predicate_doc: Mapping, repository: str, digest: str) -> bytes:
    """The in-toto Statement for a pushed image (`repository` is HOST/NS/NAME; `digest` its manifest digest)."""
    algorithm, _, value = digest.partition(":")
    doc = {"_type": STATEMENT_TYPE, "subject": [{"name": repository, "digest": {algorithm: value}}],
           "predicateType": PREDICATE_TYPE, "predicate": predicate_doc}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
