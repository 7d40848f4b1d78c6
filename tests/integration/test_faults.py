"""Faults during a push, against a real dockerd and a real registry (Distribution 2.8, htpasswd auth) behind
tests/fault_proxy.py: the registry dies, freezes, answers 503s, loses a body, runs out of disk; the command is sent
SIGTERM or SIGINT.

Each case asserts how the push ends (its exit code, how long it took, its one error line) and what the registry
holds afterwards, read back through the Registry API by `registry_state`: no tag names a missing blob, and every tag
that names an image has its zstd twin, SBOM, provenance and tested marker, or the error line said which it lacks.
Then the same push runs again without the fault and completes.

Each case pushes a small image of its own (the base plus 2 MB of its own, so there is an upload to break) into a
namespace of its own; one registry and one proxy serve the module, so Docker mounts the base layer after the first
push. The signal cases run the real command, `python -m imgbuild.cli push` (the checkout on PYTHONPATH, else the
installed package)."""

from __future__ import annotations

import io
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from helpers import docker, signalled
from imgbuild.build import provenance, sbom
from imgbuild.build.image import Image
from imgbuild.core import tags
from imgbuild.core.errors import ImgbuildError
from imgbuild.core.output import Reporter
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.publish.push import PushResult, push_image
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.registry.referrers import referrers
from imgbuild.registry.target import RegistryTarget
from imgbuild.smoke import record
from imgbuild.smoke.report import SmokeCase, SmokeReport
from registry_server import RegistryServer, auth_registry_fixture
from registry_state import registry_state
from rich.console import Console

pytestmark = pytest.mark.integration

LOCAL = f"imgbuild-faults-{secrets.token_hex(3)}/pytorch"
DATED, RELEASE, FLOATING = "2.6.0-cpu-2026-11-22", "2.6.0-cpu", "2.6-cpu"
TAGS = (DATED, RELEASE, FLOATING)
STALL = 4  # seconds a docker push may say nothing (a user's is 120)
BLOB_BODY = r"^(PATCH|PUT) /v2/[^ ]+/blobs/uploads/"  # a layer's bytes on their way (Docker's or imgbuild's)
_namespaces = itertools.count()

auth_registry = pytest.fixture(scope="module")(auth_registry_fixture)


@pytest.fixture(scope="module")
def proxy(auth_registry: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(auth_registry.host) as running:
        yield running


@pytest.fixture
def faults(proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The module's proxy, no fault on, its request log empty; revived and cleared after the case."""
    proxy.clear()
    proxy.seen.clear()
    yield proxy
    proxy.clear()
    if not proxy.listening:
        proxy.revive()


@pytest.fixture(scope="module")
def creds(auth_registry: RegistryServer) -> Credentials:
    return Credentials(auth_registry.user, auth_registry.password)


@pytest.fixture(scope="module")
def direct(auth_registry: RegistryServer, creds: Credentials) -> RegistryClient:
    """The registry itself, not the proxy: what a case left is read without its fault."""
    return RegistryClient(auth_registry.host, creds, retries=1, backoff=0.1)


@pytest.fixture
def namespace(proxy: FaultProxy) -> RegistryRef:
    return RegistryRef(proxy.host, f"fault{next(_namespaces)}")


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> Path:
    """A small SBOM and provenance predicate, as the build seals into an image, so the push attaches both."""
    folder = tmp_path_factory.mktemp("documents")
    (folder / "sbom.cdx.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                                      "components": [{"name": "torch", "version": "2.6.0"}]}))
    (folder / "provenance.json").write_text(json.dumps({"buildDefinition": {"buildType": "imgbuild-test"},
                                                        "runDetails": {"metadata": {}}}))
    return folder


@pytest.fixture
def make_image(engine, base_image, documents, tmp_path) -> Iterator[Callable[[], Image]]:
    """Makes fresh tested images, each LOCAL:case-<hex> pushed under TAGS, their records in tmp_path/.imgbuild as
    `imgbuild test` leaves them; removed after the case."""
    made: list[str] = []

    def make() -> Image:
        tag = f"case-{secrets.token_hex(3)}"
        (documents / "Dockerfile").write_text(
            f"FROM {base_image}\nCOPY sbom.cdx.json provenance.json /opt/imgbuild/\n"
            f"RUN head -c 2000000 /dev/urandom > /payload && echo {tag} >> /payload\n"
            "LABEL io.imgbuild.variant=test-faults io.imgbuild.torch=2.6.0 io.imgbuild.cuda=cpu\n")
        local = ImageRef(LOCAL, tag)
        docker("build", "-q", "--provenance=false", "--network", "host", "-t", str(local), str(documents), check=True)
        made.append(str(local))
        info = engine.image(local)
        record.record_tested(SmokeReport(image=str(local), image_id=info.id, variant="test-faults", gpu_tier=False,
                                  cases=(SmokeCase("inside::check", "passed", 0.1),)), tmp_path / ".imgbuild")
        return Image(id=info.id, ref=local, refs=tuple(local.with_tag(t) for t in TAGS), labels=info.labels)

    yield make
    if made:
        docker("rmi", "-f", *made)


@pytest.fixture
def image(make_image) -> Image:
    return make_image()


@dataclass(frozen=True)
class Outcome:
    code: int  # the exit code the command line gives it
    error: str | None  # the one `imgbuild: error:` line's text
    seconds: float
    result: PushResult | None = None


def push(engine, image: Image, namespace: RegistryRef, creds: Credentials, work: Path, **kw) -> Outcome:
    """push_image in process, as `imgbuild push` calls it, with short retries and stall bound."""
    client = RegistryClient(namespace.host, creds, retries=2, backoff=0.2)
    target = RegistryTarget(namespace, creds, client)
    start = time.monotonic()
    try:
        result = push_image(engine, image, target, record.tested_record(image.id, work / ".imgbuild"), retries=1,
                            backoff=0.2, stall=STALL, reporter=Reporter(Console(file=io.StringIO())), **kw)
    except ImgbuildError as exc:
        assert "\n" not in str(exc), str(exc)
        return Outcome(exc.exit_code, str(exc), time.monotonic() - start)
    return Outcome(0, None, time.monotonic() - start, result)


def local_leftovers(engine, image: Image, host: str) -> list[str]:
    """Registry-named tags the push made locally and did not take back."""
    info = engine.image(image.id)
    return [t for t in (info.tags if info else ()) if t.startswith(host)]


def assert_complete(state: dict[str, str], result: PushResult) -> None:
    assert {state[t] for t in TAGS} == {result.digest} and set(result.artifacts) == {"sbom", "provenance"}
    assert result.tested_marker is None and result.zstd is not None


# --- the cases ------------------------------------------------------------------------------------------------


def test_a_registry_killed_mid_push_ends_in_one_line_and_a_rerun_completes(
        engine, image, faults, namespace, creds, direct, tmp_path):
    faults.when(BLOB_BODY, faults.kill)  # the first layer's bytes never arrive
    ended = push(engine, image, namespace, creds, tmp_path)
    assert ended.code == 7, ended
    assert ended.error.startswith(f"registry {faults.host} is not reachable") and \
        ended.error.endswith("re-run the same command"), ended.error
    assert ended.seconds < 90, ended
    repository = namespace.repository("pytorch")
    assert registry_state(direct, repository, ended.error) == {}
    assert local_leftovers(engine, image, faults.host) == []
    faults.revive()
    again = push(engine, image, namespace, creds, tmp_path)
    assert again.code == 0, again
    assert_complete(registry_state(direct, repository), again.result)


def test_a_registry_frozen_past_the_stall_bound_is_given_up_as_stalled(
        engine, image, faults, namespace, creds, direct, tmp_path):
    faults.when(BLOB_BODY, faults.freeze)  # accepts, then relays nothing until thawed
    ended = push(engine, image, namespace, creds, tmp_path)
    assert ended.code == 7 and "stalled: nothing moved for 4 s" in ended.error, ended
    assert ended.error.endswith("re-run the same command"), ended.error
    assert ended.seconds < 2 * STALL + 20, ended  # two docker pushes, each given up after STALL s
    faults.thaw()
    time.sleep(3)  # what the frozen connections carried arrives now: a push the daemon went on with would show
    repository = namespace.repository("pytorch")
    assert registry_state(direct, repository, ended.error) == {}
    assert local_leftovers(engine, image, faults.host) == []
    again = push(engine, image, namespace, creds, tmp_path)
    assert again.code == 0, again
    assert_complete(registry_state(direct, repository), again.result)


def test_a_503_on_every_5th_request_ends_in_bounded_time_without_multiplied_retries(
        engine, image, make_image, faults, namespace, creds, direct, tmp_path):
    clean = push(engine, make_image(), namespace, creds, tmp_path)  # a push like it without the fault
    assert clean.code == 0, clean
    baseline = len(faults.seen)
    other = RegistryRef(namespace.host, f"fault{next(_namespaces)}")
    faults.seen.clear()
    faults.fail_every(5)
    ended = push(engine, image, other, creds, tmp_path)
    assert ended.code in (0, 6, 7) and ended.seconds < 60, ended
    # each injected 503 costs a retry of that request (or of its upload) at most; a retry loop around another
    # (imgbuild re-running docker push, which retried already) would send the whole push again
    assert len(faults.seen) < 2 * baseline, (len(faults.seen), baseline, ended)
    repository = other.repository("pytorch")
    registry_state(direct, repository, ended.error)
    faults.clear()
    again = push(engine, image, other, creds, tmp_path)
    assert again.code == 0, again
    assert_complete(registry_state(direct, repository), again.result)


def sbom_digest(engine, image: Image) -> str:
    from imgbuild.registry.referrers import digest_of

    return digest_of(engine.read_file(image.id, sbom.SBOM_PATH))


def test_a_body_dropped_once_during_the_sbom_upload_is_sent_again_in_a_new_session(
        engine, image, faults, namespace, creds, direct, tmp_path):
    digest = sbom_digest(engine, image)
    faults.drop_body(rf"^PUT .*digest={digest}")
    ended = push(engine, image, namespace, creds, tmp_path)
    assert ended.code == 0, ended
    assert faults.count(rf"^PUT .*digest={digest}") == 2  # the cut one, then a new session's
    assert_complete(registry_state(direct, namespace.repository("pytorch")), ended.result)


def test_a_body_dropped_every_time_names_the_tags_published_without_their_artifacts(
        engine, image, faults, namespace, creds, direct, tmp_path):
    faults.drop_body(rf"^PUT .*digest={sbom_digest(engine, image)}", times=None)
    ended = push(engine, image, namespace, creds, tmp_path)
    assert ended.code in (6, 7) and ended.seconds < 60, ended
    repository = namespace.repository("pytorch")
    assert f"{faults.host}/{repository} {DATED}, {RELEASE}, {FLOATING} are published at " in ended.error, ended.error
    assert "without its SBOM, provenance and tested marker" in ended.error
    assert ended.error.endswith("re-run the same command to attach them"), ended.error
    state = registry_state(direct, repository, ended.error)
    assert {state[t] for t in TAGS} and tags.zstd_tag(DATED) in state  # published, the twin with them
    faults.clear()
    again = push(engine, image, namespace, creds, tmp_path)
    assert again.code == 0, again
    assert_complete(registry_state(direct, repository), again.result)


def test_a_full_disk_is_named_as_such(engine, image, faults, namespace, creds, direct, tmp_path):
    faults.disk_full(r"^(POST|PATCH|PUT) /v2/[^ ]+/blobs/uploads/")  # every write of a blob fails
    ended = push(engine, image, namespace, creds, tmp_path)
    assert ended.code in (6, 7) and ended.seconds < 90, ended
    assert "out of disk space" in ended.error, ended.error
    repository = namespace.repository("pytorch")
    registry_state(direct, repository, ended.error)
    faults.clear()
    again = push(engine, image, namespace, creds, tmp_path)
    assert again.code == 0, again
    assert_complete(registry_state(direct, repository), again.result)


@pytest.mark.parametrize("signum, code, line", [
    (signal.SIGTERM, 143, "terminated (SIGTERM): what it had begun was undone; re-run the same command"),
    (signal.SIGINT, 130, "interrupted")], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_push_ends_the_command_in_one_line_and_leaves_nothing_half_done(
        engine, image, faults, namespace, creds, direct, tmp_path, signum, code, line):
    uploading = threading.Event()
    faults.when(BLOB_BODY, lambda: (faults.freeze(), uploading.set()))  # held mid-push until the signal
    command = [sys.executable, "-m", "imgbuild.cli", "push", str(image.ref), "--registry", str(namespace)]
    env = {**os.environ, "IMGBUILD_REGISTRY_USER": creds.username, "IMGBUILD_REGISTRY_PASSWORD": creds.password}
    ended = signalled(command, signum, uploading.is_set, env=env, cwd=tmp_path, within=60)
    faults.thaw()
    ended.assert_one_line(code, line)
    assert ended.seconds < 10, ended.seconds
    assert local_leftovers(engine, image, faults.host) == []  # the registry-named tags were taken back
    time.sleep(3)  # a push the daemon went on with, after the command was gone, would show now
    repository = namespace.repository("pytorch")
    assert registry_state(direct, repository, line) == {}
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert image.ref.tag in registry_state(direct, repository)  # the command pushes the local image's own tag


def test_two_pushes_of_one_image_at_once_end_consistent(engine, image, faults, namespace, creds, direct, tmp_path):
    """Two runs of one variant's push at once (a job re-run while the first still pushes; a nightly's reproducible
    builds give both the same image): both end well, on one digest, and the registry holds it whole, its referrers
    listed once each."""
    ended: list[Outcome] = []
    runs = [threading.Thread(target=lambda: ended.append(push(engine, image, namespace, creds, tmp_path)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=300)
    assert [o.code for o in ended] == [0, 0], ended
    assert ended[0].result.digest == ended[1].result.digest
    state = registry_state(direct, namespace.repository("pytorch"))
    assert_complete(state, ended[0].result)
    for kind in (sbom.MEDIA_TYPE, provenance.MEDIA_TYPE):  # two runs attached the same documents: listed once
        assert len(referrers(direct, namespace.repository("pytorch"), ended[0].result.digest, kind)) == 1
