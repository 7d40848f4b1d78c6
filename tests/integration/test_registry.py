"""imgbuild.registry against a real registry (Distribution 2.8 on loopback); images are seeded with skopeo."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds registry_server.py

from imgbuild.core.errors import RegistryError
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from registry_server import (
    RegistryServer,
    auth_registry_fixture,
    push_image,
    require_registry_tools,
    skopeo_digest,
)

pytestmark = pytest.mark.integration

REPO = "team/torch"
LABELS = {"org.opencontainers.image.title": "imgbuild torch", "io.imgbuild.torch": "2.6.0"}
OCI_TAG, DOCKER_TAG = "2.6.0-cpu", "2.6.0-cpu-docker"

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


@pytest.fixture(scope="module")
def seeded(auth_registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> RegistryServer:
    work = tmp_path_factory.mktemp("images")
    push_image(auth_registry, work, REPO, OCI_TAG, LABELS)
    push_image(auth_registry, work, REPO, DOCKER_TAG, LABELS, docker_format=True)
    for tag in ("2.6-cpu", "latest"):
        push_image(auth_registry, work, REPO, tag, LABELS)
    return auth_registry


@pytest.fixture
def client(seeded: RegistryServer) -> RegistryClient:
    return RegistryClient(seeded.host, Credentials(seeded.user, seeded.password), retries=1, backoff=0.01)


def test_check_login_accepts_the_right_credentials(client: RegistryClient, seeded: RegistryServer) -> None:
    assert requests.get(f"{seeded.url}/v2/", timeout=10).status_code == 401  # it asks: a pass is the credentials'
    client.check_login()  # raises RegistryError where they are refused
    assert OCI_TAG in client.tags(REPO)  # and the same client reads with them


def test_wrong_password_names_the_user_and_hides_the_password(seeded: RegistryServer) -> None:
    bad = Credentials(seeded.user, "not-the-" + seeded.password)
    with pytest.raises(RegistryError) as err:
        RegistryClient(seeded.host, bad).check_login()
    message = str(err.value)
    assert f"refused the credentials for user '{seeded.user}'" in message and "docker login" in message
    assert (
        bad.password not in message and bad.password not in repr(err.value) and bad.password not in repr(bad)
    )


def test_no_credentials_on_an_auth_registry_says_so(seeded: RegistryServer) -> None:
    with pytest.raises(RegistryError, match="requires credentials: set IMGBUILD_REGISTRY_USER"):
        RegistryClient(seeded.host).manifest_digest(REPO, OCI_TAG)


@pytest.mark.parametrize("tag", [OCI_TAG, DOCKER_TAG])
def test_manifest_digest_matches_skopeo(client: RegistryClient, seeded: RegistryServer, tag: str) -> None:
    assert client.manifest_digest(REPO, tag) == skopeo_digest(seeded, REPO, tag)


def test_missing_tag_or_repository_is_none(client: RegistryClient) -> None:
    assert client.manifest_digest(REPO, "no-such-tag") is None
    assert client.manifest_digest("team/no-such-image", "latest") is None


def test_tags_lists_pushed_tags(client: RegistryClient) -> None:
    expected = {OCI_TAG, DOCKER_TAG, "2.6-cpu", "latest"}
    assert set(client.tags(REPO)) == expected
    # Distribution 2.8 ignores n= and answers in one page; Link-following is covered in test_registry_unit.py.
    assert sorted(client.tags(REPO, page_size=1)) == sorted(expected)
    assert client.tags("team/no-such-image") == []


@pytest.mark.parametrize("tag", [OCI_TAG, DOCKER_TAG])
def test_config_returns_labels(client: RegistryClient, tag: str) -> None:
    assert client.config(REPO, tag)["config"]["Labels"] == LABELS
    assert client.manifest(REPO, tag)["schemaVersion"] == 2


def test_missing_manifest_is_a_clear_error(client: RegistryClient) -> None:
    with pytest.raises(RegistryError, match="does not exist: push it or check the tag"):
        client.manifest(REPO, "no-such-tag")


def test_index_digest_and_its_amd64_config(client: RegistryClient, seeded: RegistryServer) -> None:
    digest = client.manifest_digest(REPO, OCI_TAG)
    size = len(
        requests.get(
            f"{seeded.url}/v2/{REPO}/manifests/{digest}",
            auth=seeded.auth,
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            timeout=10,
        ).content
    )
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size}
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        # An attestation-like entry first: config() must pick the linux/amd64 image, not the first entry.
        "manifests": [
            {**entry, "platform": {"architecture": "unknown", "os": "unknown"}},
            {**entry, "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    }
    body = json.dumps(index).encode()
    resp = requests.put(
        f"{seeded.url}/v2/{REPO}/manifests/multi",
        data=body,
        auth=seeded.auth,
        timeout=10,
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert resp.status_code == 201, resp.text
    assert client.manifest_digest(REPO, "multi") == resp.headers["Docker-Content-Digest"] != digest
    assert client.config(REPO, "multi")["config"]["Labels"] == LABELS


@pytest.fixture
def open_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    require_registry_tools()
    with RegistryServer(tmp_path / "registry") as server:
        yield server


def test_stopped_registry_is_not_reachable_then_restarts_with_its_data(
    open_registry: RegistryServer, tmp_path: Path
) -> None:
    push_image(open_registry, tmp_path, "team/outage", "v1")
    client = RegistryClient(open_registry.host, retries=2, backoff=0.01)
    client.check_login()  # an open registry needs no credentials
    digest = client.manifest_digest("team/outage", "v1")

    open_registry.stop()
    started = time.monotonic()
    with pytest.raises(RegistryError) as err:
        client.manifest_digest("team/outage", "v1")
    assert str(err.value) == (
        f"registry {open_registry.host} is not reachable (connection refused): start it or check --registry"
    )
    assert time.monotonic() - started < 2

    open_registry.start()  # same port, same storage
    assert client.manifest_digest("team/outage", "v1") == digest
