"""The zstd twin of a pushed image: the same image (the same config, so the same image id, labels and layer
contents) with every layer recompressed as zstd, written under TAG-zstd beside each plain tag.

The plain tags keep gzip, which every engine pulls (Docker 20.10 cannot read zstd); an engine that can reads the twin
and unpacks several times faster. The twin is made from the registry's own blobs, every layer at once (gunzip, a
check of its content against the config's diff id, zstd on every core), and only after the plain tags are written
and verified: a twin tag is written only when all its layers are there. zstd at a fixed level gives the same bytes
for the same layer wherever it runs, so a layer shared by several images is stored once in the registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

import zstandard
from isal import isal_zlib  # gunzip about twice as fast as zlib (Intel's ISA-L)

from ..core import tags
from ..core.errors import PublishError, RegistryError
from ..registry.client import RegistryClient
from ..registry.referrers import OCI_INDEX, OCI_MANIFEST, digest_of, has_blob, upload_blob
from .immutable import dated_tag_holds

LEVEL = 3  # zstd's default: about gzip's ratio at a fraction of its CPU, both ways
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
GZIP_LAYERS = ("application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar+gzip")
CHUNK = 1 << 20

GZIP_OF = "io.imgbuild.zstd.of"  # on a twin's layer: the digest of the gzip layer it was made from
LEARN_AT_MOST = 500  # moving zstd tags read to learn which layers have a twin (one small GET each)

# gzip layer digest -> its zstd descriptor, for this process: a release of several images converts a shared layer once.
_converted: dict[str, dict[str, Any]] = {}
_learned: set[tuple[str, str]] = set()  # (registry host, repository) whose twins were read


@dataclass(frozen=True)
class Twin:
    tags: tuple[str, ...]  # TAG-zstd for every plain tag, the dated one first
    digest: str
    layers_converted: int  # recompressed here (those already in the registry are not uploaded again)
    seconds: float


def push_twin(client: RegistryClient, repository: str, digest: str, plain_tags: list[str],
              twin_tags_of: Mapping[str, str] | None = None) -> Twin:
    """Write the zstd twin of the manifest (or index) `digest` under the zstd tag of each of `plain_tags`. A twin
    already written for the same image is reused, not made again: under one of those tags (a re-run; an unchanged
    image retagged, whose moving zstd tags still name yesterday's twin) or, for an index's images, under the tag
    `twin_tags_of` gives for their digest (the twin each platform's push wrote)."""
    start = time.monotonic()
    twin_tags = [tags.zstd_tag(t) for t in sorted(plain_tags, key=lambda t: not tags.is_dated(t))]
    stored = client.manifest_bytes(repository, digest)
    if stored is None:
        raise PublishError(f"{client.host}/{repository}@{digest} is gone: push it again")
    made: list[str] = []
    body, media_type = _twin_of(client, repository, json.loads(stored[0]), twin_tags, twin_tags_of or {}, made)
    twin = digest_of(body)
    for tag in twin_tags:  # a dated twin, like its plain tag, never names another image
        dated_tag_holds(client, repository, tag, twin, what=f"the zstd twin {twin} of {digest}", fix="re-run tomorrow")
    for tag in twin_tags:
        if (written := client.put_manifest(repository, tag, body, media_type)) != twin:
            raise PublishError(f"{client.host}/{repository}:{tag} was written as {written}, not {twin}: the "
                               "registry rewrote the manifest; check that it accepts OCI manifests")
    return Twin(tags=tuple(twin_tags), digest=twin, layers_converted=len(made),
                seconds=time.monotonic() - start)


def _twin_of(client: RegistryClient, repository: str, manifest: dict[str, Any], candidates: list[str],
             twin_tags_of: Mapping[str, str], made: list[str]) -> tuple[bytes, str]:
    """The twin's bytes and media type: an image's manifest, or an index of its images' twins (attestations,
    which name no image, are left out)."""
    if "manifests" in manifest:
        entries = []
        for entry in manifest["manifests"]:
            if (entry.get("platform") or {}).get("os") in (None, "unknown"):
                continue
            known = [twin_tags_of[entry["digest"]]] if entry["digest"] in twin_tags_of else []
            body, media_type = _twin_of(client, repository, client.manifest(repository, entry["digest"]), known, {},
                                        made)
            twin = client.put_manifest(repository, digest_of(body), body, media_type)
            entries.append({"mediaType": media_type, "digest": twin, "size": len(body), "platform": entry["platform"]})
        return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, indent=2).encode(), \
            OCI_INDEX
    config = manifest.get("config") or {}
    if (found := _existing(client, repository, config.get("digest"), candidates)) is not None:
        return found, OCI_MANIFEST
    diff_ids = client.config_of(repository, manifest).get("rootfs", {}).get("diff_ids") or []
    layers = manifest.get("layers") or []
    if len(diff_ids) != len(layers):
        raise PublishError(f"{client.host}/{repository}: the image config names {len(diff_ids)} layers, its "
                           f"manifest {len(layers)}: push it again")
    _learn_twins(client, repository)
    with ThreadPoolExecutor(max_workers=max(1, min(len(layers), os.cpu_count() or 1))) as pool:
        converted = list(pool.map(lambda pair: _layer(client, repository, *pair, made),
                                  zip(layers, diff_ids, strict=True)))
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config["digest"], "size": config["size"]},
            "layers": converted}
    return json.dumps(body, indent=2).encode(), OCI_MANIFEST


def _existing(client: RegistryClient, repository: str, config: str | None, candidates: list[str]) -> bytes | None:
    """The bytes of a twin already under one of `candidates` whose config is `config`: the same image (the config
    names every layer's content), so its twin is the same too."""
    for tag in candidates:
        stored = client.manifest_bytes(repository, tag)
        if stored is None or stored[1].split(";")[0] != OCI_MANIFEST:
            continue
        twin = json.loads(stored[0])
        if (twin.get("config") or {}).get("digest") == config and all(
                layer.get("mediaType") == ZSTD_LAYER for layer in twin.get("layers") or []):
            return stored[0]
    return None


def _learn_twins(client: RegistryClient, repository: str) -> None:
    """Which gzip layers already have a zstd twin in `repository`: each twin layer names its gzip layer (an
    annotation), and the moving zstd tags name the newest twin of every image. So another Python of the same
    torch/CUDA, built on another runner, recompresses only its own layers. Once per repository and run."""
    if (client.host, repository) in _learned:
        return
    _learned.add((client.host, repository))
    moving = [t for t in client.tags(repository) if t.endswith(tags.ZSTD_SUFFIX) and not tags.is_dated(t)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for stored in pool.map(lambda t: client.manifest_bytes(repository, t), moving[:LEARN_AT_MOST]):
            for layer in (json.loads(stored[0]).get("layers") or []) if stored else []:
                gzip = (layer.get("annotations") or {}).get(GZIP_OF)
                if gzip and layer.get("mediaType") == ZSTD_LAYER:
                    _converted.setdefault(gzip, layer)


def _layer(client: RegistryClient, repository: str, layer: dict[str, Any], diff_id: str,
           made: list[str]) -> dict[str, Any]:
    """The zstd descriptor of one layer, its blob uploaded unless the registry holds it already; a layer
    recompressed here is added to `made`."""
    if layer.get("mediaType") == ZSTD_LAYER:
        return layer
    if layer.get("mediaType") not in GZIP_LAYERS:
        raise PublishError(f"{client.host}/{repository}: a layer of type {layer.get('mediaType')} has no zstd "
                           "twin here: push gzip layers")
    if (known := _converted.get(layer["digest"])) is not None and has_blob(client, repository, known["digest"]):
        return known
    with tempfile.TemporaryFile() as out:
        found = _recompress(client, repository, layer["digest"], diff_id, out)
        if not has_blob(client, repository, found["digest"]):
            out.seek(0)
            try:
                upload_blob(client, repository, found["digest"], out)
            except RegistryError as exc:
                raise PublishError(f"{exc}; no zstd tag was written: re-run the same command") from None
    _converted[layer["digest"]] = found
    made.append(layer["digest"])
    return found


def _recompress(client: RegistryClient, repository: str, digest: str, diff_id: str, out: IO[bytes]) -> dict[str, Any]:
    resp = client.request("GET", f"/v2/{repository}/blobs/{digest}", repository, stream=True, timeout=300)
    if resp.status_code != 200:
        raise PublishError(f"{client.host}/{repository}: layer {digest} could not be read (HTTP "
                           f"{resp.status_code}): push the image again")
    gunzip, content, compressed = isal_zlib.decompressobj(wbits=31), hashlib.sha256(), _Hashing(out)
    writer = zstandard.ZstdCompressor(level=LEVEL, threads=-1).stream_writer(compressed, closefd=False)
    try:
        for chunk in resp.iter_content(CHUNK):
            data = gunzip.decompress(chunk)
            content.update(data)
            writer.write(data)
        data = gunzip.flush()
        content.update(data)
        writer.write(data)
        writer.flush(zstandard.FLUSH_FRAME)
    except (isal_zlib.error, OSError) as exc:
        raise PublishError(f"{client.host}/{repository}: layer {digest} is not a readable gzip stream ({exc}): "
                           "push the image again") from None
    finally:
        resp.close()
    if f"sha256:{content.hexdigest()}" != diff_id:
        raise PublishError(f"{client.host}/{repository}: layer {digest} unpacks to sha256:{content.hexdigest()}, "
                           f"not the config's {diff_id}: the registry holds a damaged blob; push the image again")
    return {"mediaType": ZSTD_LAYER, "digest": f"sha256:{compressed.hash.hexdigest()}", "size": compressed.size,
            "annotations": {GZIP_OF: digest}}


class _Hashing:
    """A file that hashes and counts what is written to it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file, self.hash, self.size = file, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()
