"""The unchanged check against a real registry (Distribution 2.8, htpasswd auth, loopback), with tiny images
pushed by skopeo: a retag moves no blob, the tested marker is read back, and what must rebuild does."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
from imgbuild.core.errors import PublishError
from imgbuild.publish.tested import mark_tested
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.release.skip import decide, read_previous, retag
from imgbuild.render.inputs import INPUTS_LABEL
from registry_server import auth_registry_fixture, push_image, skopeo_digest

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)
RELEASE = "2.6.0-cpu"
YESTERDAY, TODAY = "2026-11-22", dt.date(2026, 11, 23)


@pytest.fixture
def client(auth_registry):
    return RegistryClient(auth_registry.host, Credentials(auth_registry.user, auth_registry.password))


@pytest.fixture
def repository(auth_registry, tmp_path):
    """A fresh repository whose moving tag names a tiny image built 'yesterday' with inputs sha256:in."""
    name = f"skip-{secrets.token_hex(3)}/pytorch"
    labels = {INPUTS_LABEL: "sha256:in", "org.opencontainers.image.created": f"{YESTERDAY}T02:17:00+00:00"}
    push_image(auth_registry, tmp_path, name, RELEASE, labels, docker_format=True)
    return name


def blob_bytes(server) -> int:
    blobs = server.dir / "storage" / "docker" / "registry" / "v2" / "blobs"
    return sum(p.stat().st_size for p in blobs.rglob("data"))


def test_unchanged_inputs_give_a_dated_tag_on_the_same_digest_and_no_new_blob(auth_registry, client, repository):
    first = skopeo_digest(auth_registry, repository, RELEASE)
    mark_tested(client, repository, first)
    before = blob_bytes(auth_registry)
    decision = decide(read_previous(client, repository, RELEASE), "sha256:in", TODAY, max_age=7, rebuild=False)
    assert decision.unchanged and decision.reason == f"unchanged since {YESTERDAY}"
    written = retag(client, decision.previous, [RELEASE, f"{RELEASE}-{TODAY}", "2.6-cpu"])
    assert written[0] == f"{RELEASE}-{TODAY}"
    for tag in written:
        assert skopeo_digest(auth_registry, repository, tag) == first
    assert blob_bytes(auth_registry) == before  # a manifest PUT under a new tag: no blob written


def test_an_image_without_a_passing_test_on_record_is_rebuilt(client, repository):
    decision = decide(read_previous(client, repository, RELEASE), "sha256:in", TODAY, max_age=7, rebuild=False)
    assert not decision.unchanged and "no passing test" in decision.reason


def test_a_moving_tag_without_the_inputs_label_is_rebuilt(auth_registry, client, tmp_path):
    name = f"skip-{secrets.token_hex(3)}/pytorch"
    push_image(auth_registry, tmp_path, name, RELEASE, {"org.opencontainers.image.created": f"{YESTERDAY}T00:00:00"},
               docker_format=True)
    mark_tested(client, name, skopeo_digest(auth_registry, name, RELEASE))
    decision = decide(read_previous(client, name, RELEASE), "sha256:in", TODAY, max_age=7, rebuild=False)
    assert not decision.unchanged and "no inputs digest label" in decision.reason


def test_an_image_older_than_max_age_or_with_other_inputs_is_rebuilt(client, repository):
    mark_tested(client, repository, client.manifest_digest(repository, RELEASE))
    previous = read_previous(client, repository, RELEASE)
    assert previous.tested
    old = decide(previous, "sha256:in", TODAY + dt.timedelta(days=8), max_age=7, rebuild=False)
    assert not old.unchanged and "built 9 days ago (--max-age 7)" in old.reason
    changed = decide(previous, "sha256:new-lock", TODAY, max_age=7, rebuild=False)
    assert not changed.unchanged and changed.reason == "inputs changed"
    assert not decide(previous, "sha256:in", TODAY, max_age=7, rebuild=True).unchanged


def test_a_dated_tag_that_names_another_image_is_never_overwritten(auth_registry, client, repository, tmp_path):
    dated = f"{RELEASE}-{TODAY}"
    push_image(auth_registry, tmp_path, repository, dated, {"other": "image"}, docker_format=True)
    other = skopeo_digest(auth_registry, repository, dated)
    with pytest.raises(PublishError, match="dated tags are immutable"):
        retag(client, read_previous(client, repository, RELEASE), [RELEASE, dated])
    assert skopeo_digest(auth_registry, repository, dated) == other


def test_diff_reads_two_tags_from_the_registry(auth_registry, tmp_path):
    from helpers import imgbuild

    name = f"diff-{secrets.token_hex(3)}/pytorch"
    old = {"io.imgbuild.packages": "numpy==2.0 six==1.16 torch==2.6.0", INPUTS_LABEL: "sha256:a",
           "org.opencontainers.image.base.digest": "sha256:base1"}
    new = {"io.imgbuild.packages": "numpy==1.9 torch==2.6.1 tqdm==4.0", INPUTS_LABEL: "sha256:b",
           "org.opencontainers.image.base.digest": "sha256:base1"}
    push_image(auth_registry, tmp_path, name, "2.6.0-cpu-2026-11-22", old, docker_format=True)
    push_image(auth_registry, tmp_path, name, "2.6.0-cpu-2026-11-23", new, docker_format=True)
    env = {"IMGBUILD_REGISTRY_USER": auth_registry.user, "IMGBUILD_REGISTRY_PASSWORD": auth_registry.password}
    refs = [f"{auth_registry.host}/{name}:2.6.0-cpu-2026-11-22", f"{auth_registry.host}/{name}:2.6.0-cpu-2026-11-23"]
    as_json = imgbuild("diff", *refs, "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    diff = json.loads(as_json.stdout)
    assert diff["upgraded"] == {"torch": ["2.6.0", "2.6.1"]} and diff["downgraded"] == {"numpy": ["2.0", "1.9"]}
    assert diff["added"] == {"tqdm": "4.0"} and diff["removed"] == {"six": "1.16"} and diff["base"] is None
    table = imgbuild("diff", *refs, env=env)
    assert table.returncode == 0 and "upgraded" in table.stdout and "2.6.1" in table.stdout
    missing = imgbuild("diff", refs[0], f"{auth_registry.host}/{name}:nope", env=env)
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_the_gpu_tier_marks_the_digest_beside_it_without_changing_it(auth_registry, client, repository,
                                                                     monkeypatch):
    from imgbuild.core.reference import ImageRef
    from imgbuild.publish.tested import mark_gpu_tested, tested_tag
    from imgbuild.smoke.report import SmokeCase, SmokeReport

    digest = skopeo_digest(auth_registry, repository, RELEASE)
    ref = ImageRef.parse(f"{auth_registry.host}/{repository}@{digest}")
    case = SmokeCase("gpu::cuda_available", "passed", 1.0, "")
    cpu_only = SmokeReport(image=str(ref), image_id="sha256:x", variant="v", gpu_tier=False, cases=(case,))
    monkeypatch.setenv("IMGBUILD_REGISTRY_USER", auth_registry.user)
    monkeypatch.setenv("IMGBUILD_REGISTRY_PASSWORD", auth_registry.password)
    with pytest.raises(Exception, match="did not pass the GPU tier"):
        mark_gpu_tested(ref, cpu_only)
    marked = mark_gpu_tested(ref, SmokeReport(**{**cpu_only.__dict__, "gpu_tier": True}))
    assert marked == f"{auth_registry.host}/{repository}:{tested_tag(digest, 'gpu')}"
    assert skopeo_digest(auth_registry, repository, tested_tag(digest, "gpu")) == digest  # the same manifest
    assert skopeo_digest(auth_registry, repository, RELEASE) == digest  # the tag a team pinned did not move
