"""The SBOM and provenance of the test image: in the image, then beside its digest in a real registry
(Distribution 2.8, htpasswd auth: no referrers API, so the `sha256-<hex>` tag scheme), read back by skopeo, the
Registry API and `imgbuild sbom`.

A small image FROM the Debian base carries the test image's own SBOM and provenance files, so the push exercises
the same code without uploading 6 GB of torch on every run."""

from __future__ import annotations

import io
import json
import secrets

import pytest
import requests
from helpers import docker, imgbuild
from imgbuild.core.output import Reporter
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.publish.push import local_image, push_image
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.registry.referrers import OCI_INDEX, referrers_tag
from imgbuild.registry.target import RegistryTarget
from imgbuild.release.manifest import release_entry, write_release
from registry_server import auth_registry_fixture, skopeo
from rich.console import Console
from test_push_cli import creds, mark_tested

REPO = f"imgbuild-attest-{secrets.token_hex(3)}/pytorch"
TAG = "2.14.1-cuda13.0-cudnn9-runtime"
PUSHED = TAG + "-amd64"  # its platform's tag in a registry: the build is made for linux/arm64 too
SECRET_WORDS = ("PASSWORD", "password=", "TOKEN=", "IMGBUILD_REGISTRY", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST")

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


@pytest.fixture(scope="module")
def documents(engine, runtime_image):
    sbom = engine.read_file(runtime_image, "/opt/imgbuild/sbom.cdx.json")
    predicate = engine.read_file(runtime_image, "/opt/imgbuild/provenance.json")
    assert sbom and predicate, "the test image carries no SBOM or provenance"
    return json.loads(sbom), json.loads(predicate)


@pytest.fixture(scope="module")
def carrier(engine, base_image, runtime_image, documents, tmp_path_factory):
    folder = tmp_path_factory.mktemp("carrier")
    (folder / "sbom.cdx.json").write_text(json.dumps(documents[0]))
    (folder / "provenance.json").write_text(json.dumps(documents[1]))
    (folder / "Dockerfile").write_text(f"FROM {base_image}\nCOPY sbom.cdx.json provenance.json /opt/imgbuild/\n"
                                       "LABEL io.imgbuild.variant=2.14.1-cu130-py3.11-runtime\n")
    docker("build", "-q", "--provenance=false", "--network", "host", "-t", f"{REPO}:{TAG}", str(folder), check=True)
    image_id = engine.image(f"{REPO}:{TAG}").id
    record = mark_tested(image_id)
    yield f"{REPO}:{TAG}", image_id
    record.unlink(missing_ok=True)
    docker("rmi", "-f", f"{REPO}:{TAG}")


def test_the_image_carries_a_cyclonedx_sbom_of_what_it_holds(documents):
    sbom, predicate = documents
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    found = {c["name"].lower(): c for c in sbom["components"]}
    assert found["torch"]["version"] == "2.14.1" and found["torch"]["purl"] == "pkg:pypi/torch@2.14.1"
    assert found["jupyterlab"]["purl"].startswith("pkg:pypi/jupyterlab@")
    assert found["openssh-server"]["purl"].startswith("pkg:deb/debian/openssh-server@")
    assert len(sbom["components"]) > 250  # the whole venv and every dpkg package, not a summary
    inputs = {d["uri"].split("://")[0]: d["digest"] for d in predicate["buildDefinition"]["resolvedDependencies"]}
    assert inputs["docker-image"]["sha256"] and inputs["file"]["sha256"]  # base image and lock digests


def test_no_secret_or_local_detail_in_the_sbom_provenance_or_session_env(engine, runtime_image, documents):
    session = engine.read_file(runtime_image, "/opt/imgbuild/session.env").decode()
    for text in (json.dumps(documents[0]), json.dumps(documents[1]), session):
        for word in SECRET_WORDS:
            assert word not in text, word
        assert "127.0.0.1:" not in text  # the loopback wheel server of the build


def test_push_attaches_sbom_and_provenance_as_referrers(carrier, auth_registry, documents, tmp_path):
    result = imgbuild("push", carrier[0], "--registry", f"{auth_registry.host}/team", env=creds(auth_registry))
    assert result.returncode == 0, result.stderr
    digest = result.stdout.split("@")[-1].strip()
    repository = f"team/{REPO.split('/')[-1]}"
    tag_index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"--creds={auth_registry.creds}",
                                  f"docker://{auth_registry.host}/{repository}:{referrers_tag(digest)}"))
    assert tag_index["mediaType"] == OCI_INDEX
    kinds = {m["artifactType"]: m["digest"] for m in tag_index["manifests"]}
    assert set(kinds) == {"application/vnd.cyclonedx+json", "application/vnd.in-toto+json"}
    for artifact in kinds.values():  # the Registry API: each artifact's subject is the image's digest
        raw = requests.get(f"{auth_registry.url}/v2/{repository}/manifests/{artifact}", auth=auth_registry.auth,
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10).json()
        assert raw["subject"]["digest"] == digest

    sbom = imgbuild("sbom", f"{auth_registry.host}/{repository}:{PUSHED}", env=creds(auth_registry))
    assert sbom.returncode == 0, sbom.stderr
    printed = {c["name"].lower(): c["version"] for c in json.loads(sbom.stdout)["components"]}
    assert printed["torch"] == "2.14.1" and "jupyterlab" in printed and "openssh-server" in printed
    statement = json.loads(imgbuild("sbom", "--provenance", f"{auth_registry.host}/{repository}@{digest}",
                                    env=creds(auth_registry)).stdout)
    assert statement["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
    assert statement["predicate"] == documents[1]
    for text in (sbom.stdout, json.dumps(statement), json.dumps(tag_index), result.stdout + result.stderr):
        assert auth_registry.password not in text


def test_a_second_push_lists_each_artifact_once_and_release_json_names_them(carrier, engine, auth_registry,
                                                                           tmp_path):
    registry = RegistryRef(auth_registry.host, "again")
    credentials = Credentials(auth_registry.user, auth_registry.password)
    target = RegistryTarget(registry, credentials, RegistryClient(auth_registry.host, credentials))
    reporter = Reporter(Console(file=io.StringIO()), out=Console(file=io.StringIO()))
    image = local_image(engine, ImageRef.parse(carrier[0]))
    pushes = [push_image(engine, image, target, None, reporter=reporter, allow_untested=True) for _ in range(2)]
    assert pushes[0].artifacts == pushes[1].artifacts and set(pushes[0].artifacts) == {"sbom", "provenance"}
    index = target.client.manifest(f"again/{REPO.split('/')[-1]}", referrers_tag(pushes[0].digest))
    assert len(index["manifests"]) == 2
    manifest, _ = write_release([release_entry(_variant(), registry, image=image, push=pushes[1])], tmp_path)
    text = manifest.read_text()
    assert json.loads(text)["images"][0]["artifacts"] == pushes[0].artifacts
    assert auth_registry.password not in text and "IMGBUILD_REGISTRY" not in text


def _variant():
    from imgbuild.matrix.load import load_matrix
    from imgbuild.matrix.select import Selection, select

    return select(load_matrix(), Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))[0]


def test_sbom_of_a_missing_tag_is_one_clear_line(auth_registry):
    result = imgbuild("sbom", f"{auth_registry.host}/team/none:nope", env=creds(auth_registry))
    assert result.returncode != 0 and result.stderr.startswith("imgbuild: error:") and "Traceback" not in result.stderr
    assert "does not exist" in result.stderr
