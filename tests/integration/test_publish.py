"""imgbuild.publish against a real dockerd and a real registry (Distribution 2.8, htpasswd auth, loopback).

Tiny images FROM the local Debian base stand in for torch images: pushing them exercises the same code.
Each test pushes into its own namespace of one shared registry, so the base layer is uploaded once and
later pushes mount it."""

from __future__ import annotations

import io
import itertools
import json
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from imgbuild.build.image import Image
from imgbuild.core import tags
from imgbuild.core.errors import DaemonError, PublishError, RegistryError
from imgbuild.core.output import Reporter
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.engine.daemon import Engine
from imgbuild.publish.push import PushResult, push_image
from imgbuild.publish.tested import tested_tag as marker_tag
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.registry.target import RegistryTarget
from imgbuild.smoke import record
from imgbuild.smoke.record import record_tested
from imgbuild.smoke.report import SmokeCase, SmokeReport
from registry_server import RegistryServer, auth_registry_fixture, skopeo
from rich.console import Console

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BASE = os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm")
LOCAL = f"imgbuild-test-{secrets.token_hex(3)}/pytorch"
DATED, RELEASE, FLOATING = "2.6.0-cpu-2026-11-22", "2.6.0-cpu", "2.6-cpu"
TAGS = [RELEASE, FLOATING, DATED]  # deliberately not dated-first: push_image orders them
_namespaces = itertools.count()

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


def missing(what: str) -> None:
    """As tests/conftest.py: fail under CI, skip on a developer's machine (self-contained here on purpose)."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: integration tests never skip)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def engine() -> Engine:
    try:
        engine = Engine()
    except DaemonError as exc:
        missing(str(exc))
    if engine.image(BASE) is None:
        missing(f"no base image {BASE}: run `bash .ci/base-image.sh {BASE}`")
    return engine


def build_tiny(tag: str, payload: str) -> str:
    """A two-layer image (the base plus one small file) tagged LOCAL:tag; returns its id."""
    dockerfile = (f"FROM {BASE}\nRUN echo {payload} > /payload\n"
                  f"LABEL io.imgbuild.variant=test-{tag} io.imgbuild.torch=2.6.0 io.imgbuild.cuda=cpu\n")
    out = subprocess.run(["docker", "build", "-q", "--provenance=false", "--network", "host", "-t", f"{LOCAL}:{tag}",
                          "-"], input=dockerfile, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    # the id the engine keeps it by (the containerd image store's is the manifest's digest, not the config's)
    inspected = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", f"{LOCAL}:{tag}"],
                               capture_output=True, text=True, check=True)
    return inspected.stdout.strip()


@pytest.fixture(scope="module")
def images(engine: Engine) -> Iterator[dict[str, str]]:
    built = {name: build_tiny(name, f"{name}-{secrets.token_hex(4)}") for name in ("a", "b")}
    yield built
    for name in built:
        engine.remove_image(f"{LOCAL}:{name}", force=True)


@pytest.fixture
def work_dir(tmp_path: Path, images: dict[str, str]) -> Path:
    for image_id in images.values():
        record_tested(passing(image_id), tmp_path)
    return tmp_path


@pytest.fixture
def registry(auth_registry: RegistryServer) -> RegistryRef:
    return RegistryRef(auth_registry.host, f"ns{next(_namespaces)}")


@pytest.fixture
def creds(auth_registry: RegistryServer) -> Credentials:
    return Credentials(auth_registry.user, auth_registry.password)


@pytest.fixture
def client(auth_registry: RegistryServer, creds: Credentials) -> RegistryClient:
    return RegistryClient(auth_registry.host, creds, retries=1, backoff=0.01)


def passing(image_id: str, outcome: str = "passed") -> SmokeReport:
    return SmokeReport(image="x", image_id=image_id, variant="test", gpu_tier=False,
                       cases=(SmokeCase("inside::check", outcome, 0.1),))


def quiet() -> Reporter:
    return Reporter(Console(file=io.StringIO()))


def push(engine, name, registry, creds, client, work_dir, tags=TAGS, **kw) -> PushResult:
    """Push LOCAL:name under `tags`, gated by the record an earlier `test` left in `work_dir`."""
    kw.setdefault("reporter", quiet())
    local = ImageRef(LOCAL, name)
    image = Image.from_info(local, engine.image(local))
    image = Image(id=image.id, ref=local, refs=tuple(local.with_tag(t) for t in tags), labels=image.labels)
    target = RegistryTarget(registry, creds, client)
    return push_image(engine, image, target, record.tested_record(image.id, work_dir), **kw)


def test_push_puts_every_tag_there_and_digests_read_back(engine, registry, creds, client, work_dir, images):
    result = push(engine, "a", registry, creds, client, work_dir)
    repo = registry.repository("pytorch")
    assert result.refs[0] == registry.image_ref("pytorch", DATED)  # the immutable tag goes first
    twins = [tags.zstd_tag(t) for t in TAGS]  # each tag's zstd twin, written after it (publish/zstd.py)
    marker = marker_tag(result.digest)  # the push writes the tested marker of what it pushed with a passing report
    assert sorted(client.tags(repo)) == sorted(TAGS + twins + [marker])
    assert {client.manifest_digest(repo, t) for t in TAGS} == {result.digest}
    assert result.zstd is not None and {client.manifest_digest(repo, t) for t in twins} == {result.zstd.digest}
    assert client.config_of(repo, client.manifest(repo, result.zstd.digest)) == \
        client.config_of(repo, client.manifest(repo, result.digest))  # the same image
    assert result.variant == "test-a" and result.layers_pushed + result.layers_existing == 2
    # the registry-named tags were only a means to push: local state keeps the local tag alone
    assert engine.image(images["a"]).tags == (f"{LOCAL}:a",)


def test_skopeo_sees_the_labels(engine, registry, creds, client, work_dir, auth_registry):
    result = push(engine, "a", registry, creds, client, work_dir)
    seen = json.loads(skopeo("inspect", "--tls-verify=false", f"--creds={auth_registry.creds}",
                             f"docker://{registry.image_ref('pytorch', DATED)}"))
    assert seen["Digest"] == result.digest
    assert seen["Labels"]["io.imgbuild.variant"] == "test-a"


def test_pull_by_digest_after_removing_the_local_image(engine, registry, creds, client, work_dir):
    image_id = build_tiny("pull", secrets.token_hex(4))
    record_tested(passing(image_id), work_dir)
    result = push(engine, "pull", registry, creds, client, work_dir)
    engine.remove_image(f"{LOCAL}:pull", force=True)
    assert engine.image(image_id) is None
    by_digest = f"{registry.host}/{registry.repository('pytorch')}@{result.digest}"
    try:
        engine.pull(by_digest, {"username": creds.username, "password": creds.password})
        assert engine.image(by_digest).id == image_id
    finally:
        engine.remove_image(image_id, force=True)


def test_wrong_password_fails_clearly_and_pushes_nothing(
        engine, registry, creds, client, work_dir, auth_registry):
    bad = Credentials(creds.username, "not-" + creds.password)
    bad_client = RegistryClient(auth_registry.host, bad, retries=1, backoff=0.01)
    with pytest.raises(RegistryError) as preflight:  # the registry API refuses before docker is asked
        push(engine, "a", registry, bad, bad_client, work_dir)
    with pytest.raises(RegistryError) as in_push:  # and docker's own push refuses the same way: one kind, exit 7
        push(engine, "a", registry, bad, client, work_dir)
    for err in (preflight, in_push):
        assert "refused the credentials for user 'ci'" in str(err.value)
        assert bad.password not in str(err.value) and "\n" not in str(err.value)
    assert client.tags(registry.repository("pytorch")) == []


def test_registry_down_before_the_push_then_the_same_call_completes(
        engine, registry, creds, client, work_dir, auth_registry):
    auth_registry.stop()
    try:
        with pytest.raises(RegistryError, match=f"registry {auth_registry.host} is not reachable"):
            push(engine, "a", registry, creds, client, work_dir, retries=1, backoff=0.01)
    finally:
        auth_registry.start()
    assert client.tags(registry.repository("pytorch")) == []
    result = push(engine, "a", registry, creds, client, work_dir)
    assert sorted(client.tags(registry.repository("pytorch"))) == sorted(
        TAGS + [tags.zstd_tag(t) for t in TAGS] + [marker_tag(result.digest)])
    assert result.digest


class StopAtPush(Reporter):
    """Stops the registry when docker is about to push (after the API checks passed); may restart it."""

    def __init__(self, server: RegistryServer, restart_after: float | None) -> None:
        super().__init__(Console(file=io.StringIO()))
        self.server, self.restart_after, self.fired = server, restart_after, False

    def info(self, message: str) -> None:
        if message.startswith("pushing") and not self.fired:
            self.fired = True
            self.server.stop()
            if self.restart_after is not None:
                threading.Timer(self.restart_after, self.server.start).start()


def test_registry_down_during_the_push_fails_clearly_then_completes(
        engine, registry, creds, client, work_dir, auth_registry):
    try:
        with pytest.raises(RegistryError) as err:  # the registry's kind, exit 7, as at the preflight
            push(engine, "a", registry, creds, client, work_dir, retries=1, backoff=0.1,
                    reporter=StopAtPush(auth_registry, restart_after=None))
    finally:
        auth_registry.start()
    assert str(err.value).startswith(f"registry {auth_registry.host} is not reachable (connection refused)")
    assert str(err.value).endswith("nothing was half-published: re-run the same command")
    assert client.tags(registry.repository("pytorch")) == []
    assert str(push(engine, "a", registry, creds, client, work_dir).refs[0]).endswith(DATED)


def test_a_short_outage_during_the_push_is_retried(engine, registry, creds, client, work_dir, auth_registry):
    reporter = StopAtPush(auth_registry, restart_after=1.0)
    try:
        result = push(engine, "a", registry, creds, client, work_dir, retries=3, backoff=1.0,
                         reporter=reporter)
    finally:
        auth_registry.start()
    assert reporter.fired and len(result.refs) == len(TAGS)


def test_a_dated_tag_is_never_overwritten_with_another_digest(engine, registry, creds, client, work_dir):
    first = push(engine, "a", registry, creds, client, work_dir)
    with pytest.raises(PublishError) as err:
        push(engine, "b", registry, creds, client, work_dir)
    message = str(err.value)
    assert DATED in message and first.digest in message and "dated tags are immutable" in message
    assert "\n" not in message
    repo = registry.repository("pytorch")
    assert {client.manifest_digest(repo, t) for t in TAGS} == {first.digest}  # nothing of b was pushed


def test_pushing_again_uploads_no_layer(engine, registry, creds, client, work_dir):
    first = push(engine, "a", registry, creds, client, work_dir)
    again = push(engine, "a", registry, creds, client, work_dir)
    assert again.digest == first.digest
    assert (again.layers_pushed, again.bytes_pushed, again.layers_existing) == (0, 0, 2)


def test_an_untested_image_is_refused_unless_allowed(engine, registry, creds, client, tmp_path, images):
    with pytest.raises(PublishError, match="was not tested .*run `imgbuild test .*--allow-untested"):
        push(engine, "a", registry, creds, client, tmp_path)
    record_tested(passing(images["a"], "failed"), tmp_path)
    assert record.tested_record(images["a"], tmp_path).passed is False
    with pytest.raises(PublishError, match="failed its smoke test"):
        push(engine, "a", registry, creds, client, tmp_path)
    assert client.tags(registry.repository("pytorch")) == []
    assert push(engine, "a", registry, creds, client, tmp_path, allow_untested=True).digest
