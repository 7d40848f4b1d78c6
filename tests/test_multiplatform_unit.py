"""One tag, every platform (docs/platforms.md), the parts that need no registry: which tags each platform's image and
the index get, the index's bytes, the nightly's chunks and join jobs, and the record in release.json and TAGS.md.
tests/integration/test_multiplatform.py joins real images in a real registry and pulls them from a second engine."""

import datetime as dt
import json
from unittest.mock import create_autospec

import pytest
from helpers import ROOT
from imgbuild.core import tags
from imgbuild.core.reference import RegistryRef
from imgbuild.core.variant import platform_builds as builds
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select
from imgbuild.plan.nightly import chunks, join_job
from imgbuild.publish.index import PlatformImage, index_body, stand_in
from imgbuild.publish.tested import tested_tag as marker_tag
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.referrers import digest_of
from imgbuild.registry.target import RegistryTarget
from imgbuild.release.indexes import WAITING, IndexEntry
from imgbuild.release.manifest import write_release
from imgbuild.release.releasefile import merge_indexes, record_indexes

DATE = dt.date(2026, 12, 4)
PLAIN = "2.14.1-cuda13.0-cudnn9-runtime"


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(ROOT / "matrix.yaml")


def test_each_platform_is_pushed_under_its_own_tags_and_the_plain_tags_are_the_index(matrix):
    amd, arm = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", platform="all"))
    assert amd.platforms == arm.platforms == ("linux/amd64", "linux/arm64")
    assert tags.tags(amd, DATE)[:2] == [f"{PLAIN}-2026-12-04", PLAIN]  # the local store: as before
    assert tags.pushed_tags(amd, DATE)[:2] == [f"{PLAIN}-amd64-2026-12-04", f"{PLAIN}-amd64"]
    assert tags.pushed_tags(arm, DATE) == tags.tags(arm, DATE)
    assert tags.index_tags(amd, DATE) == tags.index_tags(arm, DATE) == tags.tags(amd, DATE)
    assert [tags.pushed_tag(t, amd) for t in tags.tags(amd, DATE)] == tags.pushed_tags(amd, DATE)
    assert tags.pushed_tag(f"{PLAIN}-amd64-2026-12-04", amd) == f"{PLAIN}-amd64-2026-12-04"  # never twice


def test_a_build_of_one_platform_keeps_its_plain_tags(matrix):
    [old] = select(matrix, Selection(torch="2.6", cuda="12.4", flavor="runtime", python="3.11"))
    assert old.platforms == ("linux/amd64",) and not old.multi_platform
    assert tags.pushed_tags(old, DATE) == tags.tags(old, DATE) and builds([old]) == []


def test_a_build_is_joined_once_whichever_platform_was_selected(matrix):
    every = select(matrix, Selection(platform="all"))
    found = builds(every)
    assert len(found) == sum(v.platform == "linux/arm64" for v in every) == 20
    assert all([v.platform for v in b] == ["linux/amd64", "linux/arm64"] for b in found)
    arm_only = [v for v in every if v.platform == "linux/arm64"]
    assert [b[0].id for b in builds(arm_only)] == [b[0].id for b in found]


def image(platform, digest):
    return PlatformImage(platform, "t", "sha256:" + digest * 64, "application/vnd.docker.distribution.manifest.v2+json",
                         1234)


def test_the_index_holds_only_its_images_so_equal_images_give_equal_bytes():
    one = index_body([image("linux/amd64", "a"), image("linux/arm64", "b")])
    assert one == index_body([image("linux/amd64", "a"), image("linux/arm64", "b")])
    assert one != index_body([image("linux/amd64", "a"), image("linux/arm64", "c")])
    body = json.loads(one)
    assert body["mediaType"] == "application/vnd.oci.image.index.v1+json" and body["schemaVersion"] == 2
    assert [m["platform"] for m in body["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    assert "annotations" not in body  # no date: an unchanged night writes the same index digest


def test_chunks_keep_every_platform_of_a_build_together(matrix):
    every = select(matrix, Selection(platform="all"))
    for size in (3, 5, 7, 256):
        pieces = chunks(every, size)
        assert sorted(v.id for p in pieces for v in p) == sorted(v.id for v in every)
        assert all(len(p) <= size for p in pieces)
        where = {v.id: i for i, p in enumerate(pieces) for v in p}
        for b in builds(every):
            assert len({where[v.id] for v in b}) == 1, b[0].id
    assert join_job(builds(every)[0])["platforms"] == "linux/amd64 linux/arm64"


def entry(status="ok", digest="sha256:" + "1" * 64):
    return IndexEntry("2.14.1-cu130-py3.11-runtime", "r.example/ns/pytorch", status,
                      error=None if status == "ok" else "linux/arm64 image is not there", tags=(f"{PLAIN}-2026-12-04",
                      PLAIN) if status == "ok" else (), dated_tag=f"{PLAIN}-2026-12-04" if status == "ok" else None,
                      digest=digest if status == "ok" else None,
                      platforms={"linux/amd64": {"tag": "a", "digest": "sha256:" + "a" * 64, "artifacts": {}}})


def test_release_json_and_tags_md_record_the_index_and_each_platform(tmp_path):
    manifest, catalog = write_release([], tmp_path, [entry()])
    [back] = [IndexEntry.from_json(d) for d in json.loads(manifest.read_text())["indexes"]]
    assert back == entry()
    text = catalog.read_text()
    assert f"`docker pull r.example/ns/pytorch:{PLAIN}-2026-12-04`" in text and "linux/amd64" in text


def test_join_records_merge_into_the_release_folder_and_ok_wins_over_waiting(tmp_path):
    write_release([], tmp_path / "a", [entry(WAITING)])
    write_release([], tmp_path / "b", [entry()])
    [merged] = merge_indexes(tmp_path)
    assert merged.status == "ok"
    record_indexes([entry(digest="sha256:" + "2" * 64)], tmp_path / "b")
    [again] = json.loads((tmp_path / "b" / "release.json").read_text())["indexes"]
    assert again["digest"] == "sha256:" + "2" * 64  # one record per build, the newest


def test_the_nightly_summary_counts_the_builds_joined(tmp_path, cli):
    from imgbuild.release.manifest import ReleaseEntry

    image = ReleaseEntry(variant="2.14.1-cu130-py3.11-runtime", repository="r.example/ns/pytorch", status="ok",
                         digest="sha256:" + "a" * 64, tags=("x",), dated_tag="x")
    write_release([image], tmp_path / "build", [entry()])
    write_release([], tmp_path / "join", [entry(WAITING)])  # an older record: the joined one wins
    summary = cli("nightly-summary", "--in", str(tmp_path))
    assert summary.returncode == 0, summary.stderr
    assert "Multi-platform tags: 1 of 1 builds joined" in summary.stdout and f"`{PLAIN}-2026-12-04`" in summary.stdout


class Store:
    """A registry's tags as an autospecced client reads and writes them: tag -> (manifest bytes, media type)."""

    IMAGE = "application/vnd.oci.image.manifest.v1+json"

    def __init__(self):
        self.tags: dict[str, tuple[bytes, str]] = {}
        self.configs: dict[str, str] = {}  # config digest -> os/architecture
        client = create_autospec(RegistryClient, instance=True)
        client.manifest_bytes.side_effect = lambda repo, ref: self.tags.get(ref)
        client.manifest_digest.side_effect = lambda repo, ref: self.digest(ref)
        client.put_manifest.side_effect = self.put
        client.config_of.side_effect = lambda repo, manifest, ref="": dict(zip(
            ("os", "architecture"), self.configs[manifest["config"]["digest"]].split("/"), strict=True))
        self.target = RegistryTarget(RegistryRef("127.0.0.1:5000", "team"), None, client, zstd=False)

    def digest(self, ref):
        return digest_of(self.tags[ref][0]) if ref in self.tags else None

    def put(self, repo, tag, body, media_type):
        self.tags[tag] = (body, media_type)
        return digest_of(body)

    def push(self, variant, tested=True, name="a"):
        """One platform's image under its own tags, as `imgbuild push` leaves it (its tested marker with it)."""
        config = f"sha256:{name * 64}"
        self.configs[config] = variant.platform
        body = json.dumps({"schemaVersion": 2, "config": {"digest": config}, "layers": []}).encode()
        for tag in tags.pushed_tags(variant, DATE):
            self.put("", tag, body, self.IMAGE)
        if tested:
            self.put("", marker_tag(self.digest(tags.pushed_tags(variant, DATE)[0])), body, self.IMAGE)
        return self.digest(tags.pushed_tags(variant, DATE)[0])


def test_a_one_platform_publish_gives_the_moving_plain_tags_until_the_join_and_never_the_dated_one(matrix):
    amd, arm = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", platform="all"))
    store = Store()
    assert stand_in([amd, arm], store.target, DATE) is None  # nothing pushed: nothing written
    store.push(amd, tested=False)
    assert stand_in([amd, arm], store.target, DATE) is None and PLAIN not in store.tags  # untested: never a plain tag
    digest = store.push(amd)
    platform, written = stand_in([amd, arm], store.target, DATE)
    moving = tags.index_tags(amd, DATE)[1:]
    assert platform == "linux/amd64" and written == moving and PLAIN in moving
    assert all(store.digest(t) == digest for t in moving)
    assert f"{PLAIN}-2026-12-04" not in store.tags  # the dated plain tag is the join's alone

    store.push(arm, name="b")  # arm64's image alone on another day must not take amd64's plain tags away
    store.tags.pop(tags.pushed_tags(amd, DATE)[0])
    assert stand_in([amd, arm], store.target, DATE) == ("linux/arm64", [])
    assert store.digest(PLAIN) == digest


def test_a_plain_tag_that_names_an_index_keeps_it(matrix):
    amd, arm = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", platform="all"))
    store = Store()
    index = store.put("", PLAIN, index_body([image("linux/amd64", "a"), image("linux/arm64", "b")]),
                      "application/vnd.oci.image.index.v1+json")
    store.push(amd)
    platform, written = stand_in([amd, arm], store.target, DATE)
    assert PLAIN not in written and store.digest(PLAIN) == index
