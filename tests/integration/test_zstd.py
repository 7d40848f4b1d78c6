"""The zstd twin of a pushed tag, against a real registry (Distribution 2.8) and read back by real clients: skopeo
copies it out (its layer must unpack to the config's diff id), and the modern engine pulls it into a store."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds registry_server.py

from imgbuild.core.errors import PublishError
from imgbuild.publish import zstd
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from registry_server import RegistryServer, auth_registry_fixture, push_image, skopeo

pytestmark = pytest.mark.integration

REPO = "team/torch"
DATED, MOVING = "2.6.0-cpu-2026-12-07", "2.6.0-cpu"
auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


@pytest.fixture(scope="module")
def client(auth_registry: RegistryServer) -> RegistryClient:
    return RegistryClient(auth_registry.host, Credentials(auth_registry.user, auth_registry.password))


@pytest.fixture(scope="module")
def pushed(auth_registry: RegistryServer, client: RegistryClient, tmp_path_factory) -> str:
    """A gzip image (Docker schema 2, as the classic store pushes) under its dated and moving tags; its digest."""
    work = tmp_path_factory.mktemp("images")
    push_image(auth_registry, work, REPO, DATED, {"io.imgbuild.torch": "2.6.0"}, docker_format=True)
    digest = client.manifest_digest(REPO, DATED)
    assert digest is not None
    client.put_manifest(REPO, MOVING, *client.manifest_bytes(REPO, digest))
    return digest


def test_the_twin_is_the_same_image_with_zstd_layers_under_every_tag(auth_registry, client, pushed, tmp_path):
    twin = zstd.push_twin(client, REPO, pushed, [MOVING, DATED])
    assert twin.tags == (f"{DATED}-zstd", f"{MOVING}-zstd")  # the immutable one first
    for tag in twin.tags:
        assert client.manifest_digest(REPO, tag) == twin.digest
    manifest = client.manifest(REPO, twin.digest)
    plain = client.manifest(REPO, pushed)
    assert manifest["config"]["digest"] == plain["config"]["digest"]  # same config: same image id, same diff ids
    assert [layer["mediaType"] for layer in manifest["layers"]] == [zstd.ZSTD_LAYER]
    assert manifest["layers"][0]["digest"] != plain["layers"][0]["digest"]

    # skopeo copies the twin out; its layer is a zstd stream of the very tar the config names
    out = tmp_path / "copy"
    skopeo("copy", "--src-tls-verify=false", f"--src-creds={auth_registry.creds}",
           f"docker://{auth_registry.host}/{REPO}:{DATED}-zstd", f"dir:{out}")
    blob = (out / manifest["layers"][0]["digest"].split(":")[1]).read_bytes()
    tar = zstandard.ZstdDecompressor().stream_reader(blob).read()
    diff_ids = client.config_of(REPO, manifest)["rootfs"]["diff_ids"]
    assert f"sha256:{hashlib.sha256(tar).hexdigest()}" == diff_ids[0]
    assert b"imgbuild test image" in tar


def test_a_second_twin_of_the_same_image_reuses_the_first(client, pushed):
    first = zstd.push_twin(client, REPO, pushed, [MOVING, DATED])
    zstd._converted.clear(), zstd._learned.clear()  # another process: only the registry remembers
    again = zstd.push_twin(client, REPO, pushed, [MOVING, "2.6.0-cpu-2026-12-08"])
    assert again.digest == first.digest and again.layers_converted == 0
    assert client.manifest_digest(REPO, "2.6.0-cpu-2026-12-08-zstd") == first.digest


def test_recompression_gives_the_same_bytes_every_time(client, pushed):
    zstd.push_twin(client, REPO, pushed, [MOVING])
    zstd._converted.clear(), zstd._learned.clear()
    zstd._learned.add((client.host, REPO))  # as if nothing were known: converted again, from the gzip
    made: list[str] = []
    body, _ = zstd._twin_of(client, REPO, client.manifest(REPO, pushed), [], {}, made)
    assert len(made) == 1
    assert json.loads(body)["layers"] == client.manifest(REPO, client.manifest_digest(REPO, f"{MOVING}-zstd"))["layers"]


def test_a_dated_twin_never_names_another_image(auth_registry, client, pushed, tmp_path):
    push_image(auth_registry, tmp_path, REPO, "other", {"io.imgbuild.torch": "2.7.0"}, docker_format=True)
    other = client.manifest_digest(REPO, "other")
    zstd.push_twin(client, REPO, other, ["2.7.0-cpu-2026-12-09"])
    before = client.manifest_digest(REPO, "2.6.0-cpu-zstd")
    with pytest.raises(PublishError, match="2.7.0-cpu-2026-12-09-zstd already names .*dated tags are immutable"):
        zstd.push_twin(client, REPO, pushed, ["2.6.0-cpu", "2.7.0-cpu-2026-12-09"])
    assert client.manifest_digest(REPO, "2.6.0-cpu-zstd") == before  # refused before any tag was written


def test_a_damaged_gzip_blob_is_refused_and_no_twin_tag_is_written(client, pushed, monkeypatch):
    zstd._converted.clear(), zstd._learned.clear()
    manifest = client.manifest(REPO, pushed)
    wrong = dict(manifest, layers=[dict(manifest["layers"][0])])
    zstd._learned.add((client.host, REPO))
    monkeypatch.setattr(client, "config_of", lambda *a, **k: {"rootfs": {"diff_ids": ["sha256:" + "0" * 64]}})
    with pytest.raises(PublishError, match="unpacks to sha256:.*not the config's sha256:0000"):
        zstd._twin_of(client, REPO, wrong, [], {}, [])


def test_the_modern_engine_pulls_the_twin(engine, auth_registry, client, pushed):
    twin = zstd.push_twin(client, REPO, pushed, [MOVING])
    ref = f"{auth_registry.host}/{REPO}:{MOVING}-zstd"
    login = subprocess.run(["docker", "login", auth_registry.host, "-u", auth_registry.user, "--password-stdin"],
                           input=auth_registry.password, capture_output=True, text=True, timeout=60)
    assert login.returncode == 0, login.stderr
    try:
        pull = subprocess.run(["docker", "pull", ref], capture_output=True, text=True, timeout=300)
        assert pull.returncode == 0, pull.stderr
        info = json.loads(subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True,
                                         check=True).stdout)[0]
        diff_ids = client.config_of(REPO, client.manifest(REPO, twin.digest))["rootfs"]["diff_ids"]
        assert info["RootFS"]["Layers"] == diff_ids
    finally:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, timeout=60)
        subprocess.run(["docker", "logout", auth_registry.host], capture_output=True, timeout=60)


def test_another_image_with_the_same_layer_reuses_its_twin_from_the_registry(auth_registry, client, tmp_path):
    """Another Python of one torch/CUDA on another runner: the layers it shares already have a twin in the
    repository, named by the moving zstd tags; only its own layers are recompressed."""
    repo = "team/shared"
    push_image(auth_registry, tmp_path, repo, "a", {"io.imgbuild.python": "3.11"}, docker_format=True,
               payload="the same CUDA library\n")
    push_image(auth_registry, tmp_path, repo, "b", {"io.imgbuild.python": "3.12"}, docker_format=True,
               payload="the same CUDA library\n")
    first = zstd.push_twin(client, repo, client.manifest_digest(repo, "a"), ["a"])
    zstd._converted.clear(), zstd._learned.clear()  # the second image's job runs elsewhere
    second = zstd.push_twin(client, repo, client.manifest_digest(repo, "b"), ["b"])
    assert first.layers_converted == 1 and second.layers_converted == 0
    a, b = (client.manifest(repo, t.digest)["layers"] for t in (first, second))
    assert a == b and a[0]["annotations"][zstd.GZIP_OF] == client.manifest(repo, "a")["layers"][0]["digest"]
