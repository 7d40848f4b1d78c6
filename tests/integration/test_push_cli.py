"""`imgbuild push IMAGE --registry 127.0.0.1:PORT/NS` as a user runs it, credentials from the environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest
from helpers import ROOT, docker, imgbuild
from registry_server import auth_registry_fixture, skopeo

BASE = os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm")
REPO = f"imgbuild-cli-{secrets.token_hex(3)}/pytorch"
TAGS = ["2.6.0-cpu", "2.6.0-cpu-2026-11-22", "2.6-cpu"]

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


@pytest.fixture(scope="module")
def image(engine):
    dockerfile = (f"FROM {BASE}\nRUN echo {secrets.token_hex(8)} > /payload\n"
                  "LABEL io.imgbuild.variant=2.6.0-cpu-py3.12-runtime io.imgbuild.torch=2.6.0 io.imgbuild.cuda=cpu\n")
    out = subprocess.run(["docker", "build", "-q", "--provenance=false", "--network", "host", "-t",
                          f"{REPO}:{TAGS[0]}", "-"], input=dockerfile, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for tag in TAGS[1:]:
        docker("tag", f"{REPO}:{TAGS[0]}", f"{REPO}:{tag}", check=True)
    image_id = engine.image(f"{REPO}:{TAGS[0]}").id
    yield f"{REPO}:{TAGS[0]}", image_id
    docker("rmi", "-f", *[f"{REPO}:{t}" for t in TAGS])


def creds(server, password=None):
    user, real = server.creds.split(":", 1)
    return {"IMGBUILD_REGISTRY_USER": user, "IMGBUILD_REGISTRY_PASSWORD": password or real}


def mark_tested(image_id):
    record = ROOT / ".imgbuild" / "tested" / (image_id.split(":")[-1] + ".json")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"passed": True, "image_id": image_id}))
    return record


def test_an_untested_image_is_refused(image, auth_registry):
    result = imgbuild("push", image[0], "--registry", f"{auth_registry.host}/cli", env=creds(auth_registry))
    assert result.returncode == 6 and "was not tested" in result.stderr and "--allow-untested" in result.stderr


def test_a_wrong_password_fails_clearly_and_is_never_printed(image, auth_registry):
    record = mark_tested(image[1])
    try:
        wrong = "wrong-" + secrets.token_hex(6)
        result = imgbuild("push", image[0], "--registry", f"{auth_registry.host}/cli",
                          env=creds(auth_registry, wrong))
        assert result.returncode != 0 and "refused the credentials" in result.stderr
        assert wrong not in result.stdout + result.stderr
    finally:
        record.unlink()


def test_push_puts_the_release_and_dated_tags_there(image, auth_registry):
    record = mark_tested(image[1])
    try:
        result = imgbuild("push", image[0], "--registry", f"{auth_registry.host}/cli", env=creds(auth_registry))
        assert result.returncode == 0, result.stderr[-2000:]
        user, password = auth_registry.creds.split(":", 1)
        assert password not in result.stdout + result.stderr
        for tag in ("2.6.0-cpu", "2.6.0-cpu-2026-11-22"):
            data = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", f"{user}:{password}",
                                     f"docker://{auth_registry.host}/cli/pytorch:{tag}"))
            assert data["Labels"]["io.imgbuild.torch"] == "2.6.0"
            assert f"@{data['Digest']}" in result.stdout
        again = imgbuild("push", image[0], "--registry", f"{auth_registry.host}/cli", env=creds(auth_registry))
        assert again.returncode == 0 and "0 layers uploaded" in again.stderr
    finally:
        record.unlink()
