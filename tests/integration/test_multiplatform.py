"""One tag, every platform (docs/platforms.md): small linux/amd64 and linux/arm64 images, labelled as the two
platforms' images of the offline test variant, pushed with `imgbuild push` under their platforms' tags; `imgbuild
join` writes the plain tags as one OCI index only once both are there and marked tested, never re-points a dated
tag, and a second, empty Docker engine pulls each platform's image from the one tag. The torch images themselves
go through the same path in bench/arm64.py (an emulated torch build takes an hour here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from dockerd import second_dockerd
from helpers import docker, imgbuild, missing
from imgbuild.publish.tested import mark_tested
from imgbuild.registry.client import RegistryClient
from registry_server import registry_fixture, skopeo

registry = pytest.fixture(scope="module")(registry_fixture)

AMD64_ID = "2.14.1-cu130-py3.11-runtime"
PLAIN = "2.14.1-cuda13.0-cudnn9-runtime"
DAY, OTHER_DAY = "2001-01-01", "2001-01-02"  # dates no real build has, so no real tag is touched
NS = "mp"


def small_image(base: str, platform: str, variant: str, local_tag: str, documents: Path) -> str:
    """A few-MB image of `platform` labelled as `variant`'s image, carrying an SBOM and a provenance predicate as
    imgbuild's images do, tagged only with a dated tag of that day."""
    (documents / "Dockerfile").write_text(f"FROM {base}\nRUN uname -m > /machine\n"
                                          "COPY sbom.cdx.json provenance.json /opt/imgbuild/\n")
    built = subprocess.run(
        # BuildKit attaches a provenance attestation by default, which makes the image an index: imgbuild's own
        # builds carry none (their provenance goes beside the digest), and neither do these stand-ins
        ["docker", "build", "-q", "--provenance=false", "--network", "host", "--platform", platform, "-t", local_tag,
         "--label", f"io.imgbuild.variant={variant}", "--label", f"io.imgbuild.platform={platform}", str(documents)],
        capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    return local_tag


@pytest.fixture(scope="module")
def images(engine, base_image, arm64_base, runtime_image, tmp_path_factory):
    documents = tmp_path_factory.mktemp("documents")  # the test image's own, which `push` attaches as referrers
    for path in ("/opt/imgbuild/sbom.cdx.json", "/opt/imgbuild/provenance.json"):
        (documents / Path(path).name).write_bytes(engine.read_file(runtime_image, path))
    made = [small_image(base_image, "linux/amd64", AMD64_ID, f"imgbuild/pytorch:{PLAIN}-{DAY}", documents),
            small_image(arm64_base, "linux/arm64", AMD64_ID + "-arm64", f"imgbuild/pytorch:{PLAIN}-arm64-{DAY}",
                        documents)]
    yield made
    for tag in made:
        docker("rmi", tag)


@pytest.fixture(scope="module")
def second_engine(tmp_path_factory):
    """A second, empty dockerd on its own socket and data root: what a team's machine that never saw the image has."""
    if not shutil.which("dockerd"):
        missing("dockerd is not installed: bash scripts/setup-docker.sh")
    with second_dockerd(tmp_path_factory.mktemp("engine2")) as sock:
        yield sock


def join(registry, date=DAY, *more):
    return imgbuild("join", "--variant", AMD64_ID, "--registry", f"{registry.host}/{NS}", "--date", date, *more)


def raw(registry, tag):
    return json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/{NS}/pytorch:{tag}"))


def test_one_tag_names_every_platform_only_once_each_is_pushed_and_tested(images, registry, second_engine, tmp_path):
    client = RegistryClient(registry.host)
    amd64, arm64 = images
    pushed = imgbuild("push", amd64, "--registry", f"{registry.host}/{NS}", "--allow-untested")
    assert pushed.returncode == 0, pushed.stderr
    assert f"/{NS}/pytorch:{PLAIN}-amd64-{DAY}@sha256:" in pushed.stdout  # its platform's tag, not the plain one

    early = join(registry, DAY, "--out", str(tmp_path / "early"))
    assert early.returncode != 0
    [line] = [line for line in early.stderr.splitlines() if line.startswith("imgbuild: error:")]
    assert f"{PLAIN}-arm64-{DAY} is not there" in line and "no linux/arm64 image" in line
    assert client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{DAY}") is None  # nothing half-written

    assert imgbuild("push", arm64, "--registry", f"{registry.host}/{NS}", "--allow-untested").returncode == 0
    untested = join(registry)
    assert untested.returncode != 0 and "has no passing test on record" in untested.stderr
    assert client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{DAY}") is None

    digests = {}
    for arch in ("amd64", "arm64"):
        digests[arch] = client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{arch}-{DAY}")
        assert mark_tested(client, f"{NS}/pytorch", digests[arch])  # what a passing `imgbuild release` writes

    # Pushing a platform's image again (the same image: its dated tag may be written again) joins, as a release does.
    again = imgbuild("push", arm64, "--registry", f"{registry.host}/{NS}", "--allow-untested")
    assert again.returncode == 0, again.stderr
    assert f"/{NS}/pytorch:{PLAIN}-{DAY}@sha256:" in again.stdout  # the index is what it pins first
    out = tmp_path / "release"
    joined = join(registry, DAY, "--out", str(out))
    assert joined.returncode == 0 and "already named the index" in joined.stderr, joined.stderr
    index = raw(registry, f"{PLAIN}-{DAY}")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert {(m["platform"]["architecture"], m["digest"]) for m in index["manifests"]} == {
        ("amd64", digests["amd64"]), ("arm64", digests["arm64"])}
    dated = client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{DAY}")
    assert client.manifest_digest(f"{NS}/pytorch", PLAIN) == dated  # the moving tag names the same index
    [record] = json.loads((out / "release.json").read_text())["indexes"]
    assert record["digest"] == dated and record["dated_tag"] == f"{PLAIN}-{DAY}"
    assert {p: i["digest"] for p, i in record["platforms"].items()} == {
        "linux/amd64": digests["amd64"], "linux/arm64": digests["arm64"]}
    for image in record["platforms"].values():  # each platform's SBOM and provenance, as referrers of its digest
        assert set(image["artifacts"]) == {"sbom", "provenance"}
        assert all(client.manifest_digest(f"{NS}/pytorch", d) == d for d in image["artifacts"].values())
    assert f"{PLAIN}-{DAY}" in (out / "TAGS.md").read_text()

    rerun = join(registry)  # a re-run (or the other platform's job joined first): the same bytes, the same digest
    assert rerun.returncode == 0 and client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{DAY}") == dated

    ref = f"{registry.host}/{NS}/pytorch:{PLAIN}-{DAY}"
    for platform, machine in (("linux/arm64", "aarch64"), ("linux/amd64", "x86_64")):
        pulled = docker("-H", second_engine, "pull", "-q", "--platform", platform, ref, timeout=600)
        assert pulled.returncode == 0, pulled.stderr
        ran = docker("-H", second_engine, "run", "--rm", "--network", "host", "--platform", platform, ref, "sh", "-c",
                     "uname -m; cat /machine", timeout=300)
        assert ran.returncode == 0 and ran.stdout.split() == [machine, machine], ran.stderr


def test_a_dated_tag_never_names_another_index(images, registry):
    client = RegistryClient(registry.host)
    amd64, arm64 = images
    for image, day_tag in ((amd64, f"{PLAIN}-{OTHER_DAY}"), (arm64, f"{PLAIN}-arm64-{OTHER_DAY}")):
        docker("tag", image, f"imgbuild/pytorch:{day_tag}", check=True)
        try:
            pushed = imgbuild("push", f"imgbuild/pytorch:{day_tag}", "--registry", f"{registry.host}/{NS}",
                              "--allow-untested")
            assert pushed.returncode == 0, pushed.stderr
        finally:
            docker("rmi", f"imgbuild/pytorch:{day_tag}")
    for arch in ("amd64", "arm64"):
        mark_tested(client, f"{NS}/pytorch", client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{arch}-{OTHER_DAY}"))
    # That day's plain dated tag already names an image (as one pushed before the build had two platforms).
    body, media_type = client.manifest_bytes(f"{NS}/pytorch", f"{PLAIN}-amd64-{OTHER_DAY}")
    before = client.put_manifest(f"{NS}/pytorch", f"{PLAIN}-{OTHER_DAY}", body, media_type)
    refused = join(registry, OTHER_DAY)
    assert refused.returncode != 0
    assert "dated tags are immutable" in refused.stderr and f"{PLAIN}-{OTHER_DAY} already names" in refused.stderr
    assert client.manifest_digest(f"{NS}/pytorch", f"{PLAIN}-{OTHER_DAY}") == before


def test_one_platform_pushed_alone_gives_a_plain_tag_to_pull_until_the_join(images, registry):
    """`imgbuild push` of one platform's image on one machine: its moving plain tag names that image (so the README's
    tag pulls), the dated plain tag waits for the join, and the join then points the moving tag at the index."""
    client, ns, day = RegistryClient(registry.host), "mp-one", "2001-01-03"
    amd64, arm64 = images
    local = [f"imgbuild/pytorch:{PLAIN}-{day}", f"imgbuild/pytorch:{PLAIN}",
             f"imgbuild/pytorch:{PLAIN}-arm64-{day}", f"imgbuild/pytorch:{PLAIN}-arm64"]
    for image, tag in zip((amd64, amd64, arm64, arm64), local, strict=True):
        docker("tag", image, tag, check=True)
    try:
        def push(tag):
            done = imgbuild("push", tag, "--registry", f"{registry.host}/{ns}", "--allow-untested")
            assert done.returncode == 0, done.stderr
            return done

        push(local[0])
        assert client.manifest_digest(f"{ns}/pytorch", PLAIN) is None  # untested: no plain tag stands in
        amd = client.manifest_digest(f"{ns}/pytorch", f"{PLAIN}-amd64-{day}")
        mark_tested(client, f"{ns}/pytorch", amd)
        again = push(local[0])
        assert f"{PLAIN}, {PLAIN}-zstd name its linux/amd64 image" in again.stderr, again.stderr  # its twin too
        assert client.manifest_digest(f"{ns}/pytorch", PLAIN) == amd
        assert client.manifest_digest(f"{ns}/pytorch", f"{PLAIN}-{day}") is None  # the join's alone
        pulled = skopeo("inspect", "--tls-verify=false", f"docker://{registry.host}/{ns}/pytorch:{PLAIN}")
        assert json.loads(pulled)["Architecture"] == "amd64"

        push(local[2])
        mark_tested(client, f"{ns}/pytorch", client.manifest_digest(f"{ns}/pytorch", f"{PLAIN}-arm64-{day}"))
        joined = imgbuild("join", "--variant", AMD64_ID, "--registry", f"{registry.host}/{ns}", "--date", day)
        assert joined.returncode == 0, joined.stderr
        index = client.manifest_digest(f"{ns}/pytorch", f"{PLAIN}-{day}")
        assert index is not None and client.manifest_digest(f"{ns}/pytorch", PLAIN) == index
    finally:
        for tag in local:
            docker("rmi", tag)
