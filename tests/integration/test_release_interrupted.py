"""A nightly `imgbuild release` cancelled by CI (SIGTERM) or a person (Ctrl-C) in the middle, then run again: each
interruption ends in one line with its exit code and leaves nothing behind (no smoke container, key file, temporary
tag, release.json, nor a tag in the registry without its SBOM, provenance, twin and tested marker); the re-run
ends as an uninterrupted release does, and its release.json says so.

The release is the offline test variant's, against a real registry behind tests/fault_proxy.py, which holds the
push still until the signal is sent; a fixed SOURCE_DATE_EPOCH makes every run's image the same one, as the
nightly's does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TEST_VARIANT
from fault_proxy import FaultProxy
from helpers import IMGBUILD, ROOT, docker, signalled, smoke_containers
from imgbuild.publish.tested import is_tested
from imgbuild.registry.client import RegistryClient
from registry_server import RegistryServer, registry_fixture
from registry_state import registry_state

registry = pytest.fixture(scope="module")(registry_fixture)
NIGHT = 1795049820  # 2026-11-19 02:17 UTC
BLOB_BODY = r"^(PATCH|PUT) /v2/[^ ]+/blobs/uploads/"
TERMINATED = "terminated (SIGTERM): what it had begun was undone; re-run the same command"


@pytest.fixture(scope="module")
def proxy(registry: RegistryServer) -> Iterator[FaultProxy]:
    with FaultProxy(registry.host) as running:
        yield running


@pytest.fixture(scope="module")
def direct(registry: RegistryServer) -> RegistryClient:
    """The registry itself, not the proxy: what a run left is read without its fault."""
    return RegistryClient(registry.host, None, retries=1, backoff=0.1)


def registry_named_tags(host: str) -> list[str]:
    return [t for t in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() if t.startswith(host)]


class Release:
    """`imgbuild release` of the test variant into PROXY/nightly, in a process of its own, its temporary files in a
    folder of their own (so a key file left behind is seen)."""

    def __init__(self, proxy: FaultProxy, site: list[str], folder: Path):
        self.out, self.tmp = folder / "release", folder / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.command = [*IMGBUILD, "release", *TEST_VARIANT, "--flavor", "runtime", "--registry",
                        f"{proxy.host}/nightly", "--gpu", "no", "--out", str(self.out), *site]
        self.env = {**os.environ, "SOURCE_DATE_EPOCH": str(NIGHT), "TMPDIR": str(self.tmp)}

    def run(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=1800)


def assert_nothing_left(release: Release, proxy: FaultProxy, direct: RegistryClient, line: str) -> None:
    assert smoke_containers() == []
    assert list(release.tmp.iterdir()) == []  # the smoke test's SSH key, the build's context: gone
    assert registry_named_tags(proxy.host) == []
    assert not (release.out / "release.json").exists()  # nothing claims a release that did not end
    assert registry_state(direct, "nightly/pytorch", line) == {}


def test_a_release_interrupted_mid_test_then_mid_push_ends_as_an_uninterrupted_one_on_the_re_run(
        runtime_image, base_image, wheelhouse, ca_cert, proxy, direct, tmp_path):
    site = ["--base-image", base_image, "--ca-cert", str(ca_cert), "--wheelhouse", str(wheelhouse)]
    release = Release(proxy, site, tmp_path)

    # CI cancels the job while the smoke test runs: SIGTERM
    ended = signalled(release.command, signal.SIGTERM, lambda: bool(smoke_containers()), env=release.env)
    ended.assert_one_line(143, TERMINATED)
    print(f"SIGTERM mid-test: exit 143 in {ended.seconds:.1f} s")  # the figure docs/faults.md quotes (pytest -s)
    assert ended.seconds < 30, ended.seconds
    assert_nothing_left(release, proxy, direct, TERMINATED)

    # A person presses Ctrl-C while the image's layers are on their way to the registry
    uploading = threading.Event()
    proxy.when(BLOB_BODY, lambda: (proxy.freeze(), uploading.set()))
    try:
        ended = signalled(release.command, signal.SIGINT, uploading.is_set, env=release.env)
    finally:
        proxy.clear()
        proxy.thaw()
    ended.assert_one_line(130, "interrupted")
    print(f"Ctrl-C mid-push: exit 130 in {ended.seconds:.1f} s")
    assert ended.seconds < 30, ended.seconds
    time.sleep(3)  # a push the daemon went on with, after the command was gone, would show now
    assert_nothing_left(release, proxy, direct, "interrupted")

    # The same command again: a whole release, recorded as one
    again = release.run()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    [entry] = json.loads((release.out / "release.json").read_text())["images"]
    assert entry["status"] == "ok" and entry["rebuilt_because"] == "not in the registry yet", entry
    state = registry_state(direct, "nightly/pytorch")  # every tag whole: twin, SBOM, provenance, tested marker
    assert {state[t] for t in entry["tags"]} == {entry["digest"]} and entry["dated_tag"] in entry["tags"]
    assert is_tested(direct, "nightly/pytorch", entry["digest"])
    assert smoke_containers() == [] and registry_named_tags(proxy.host) == []
