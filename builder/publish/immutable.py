"""The one rule of dated tags: written once, never moved. Every writer of a tag asks here first (a push, the
retag of an unchanged image, the index of a multi-platform build, a zstd twin), before it writes anything."""

from __future__ import annotations

from ..core import tags
from ..core.errors import PublishError
from ..registry.client import RegistryClient


def dated_tag_holds(client: RegistryClient, repository: str, tag: str, digest: str | None, *,
                    image_id: str | None = None, what: str = "", fix: str) -> str | None:
    """What a dated `tag` names now (None: nothing yet); refused when that is not `digest` (the manifest about to be
    written) or, given `image_id`, another image: an engine's image id is its manifest's digest (the containerd
    store) or its config's digest (the classic store, Podman). A tag that is not dated is never refused."""
    if not tags.is_dated(tag):
        return None
    there = client.manifest_digest(repository, tag)
    if there is None or there == digest or (image_id is not None and there == image_id):
        return there
    if image_id is not None:
        config = (client.image_manifest(repository, there).get("config") or {}).get("digest")
        if config == image_id:
            return there
    wanted = what or (f"this image (id {image_id})" if image_id else str(digest))
    raise PublishError(f"{client.host}/{repository}:{tag} already names {there}, not {wanted}: dated tags are "
                       f"immutable; {fix}")
