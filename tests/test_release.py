"""The release manifest and the tag catalog (no daemon, no registry: plain values in, files out)."""

import datetime as dt
import json
import os
import signal
import socket
from pathlib import Path

import pytest
from imgbuild.build.image import Image
from imgbuild.core import tags
from imgbuild.core.errors import ConfigError
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.matrix.select import Selection, select
from imgbuild.publish.push import PushResult
from imgbuild.release.manifest import ReleaseEntry, release_entry, write_release
from imgbuild.release.releasefile import merge_releases
from imgbuild.smoke.report import SmokeCase, SmokeReport

REGISTRY = RegistryRef("ghcr.io", "team")
DIGEST = "sha256:" + "ab" * 32


def image_of(matrix, **kw) -> Image:
    [v] = select(matrix, Selection(**kw))
    refs = tuple(ImageRef(tags.local_repository(v), t) for t in tags.tags(v, dt.date(2026, 11, 22)))
    return Image(id="sha256:" + "cd" * 32, ref=refs[1], refs=refs, size=6_400_000_000, variant=v, seconds=241.0,
                 log=Path("build.log"))


def entry(image: Image, smoke, push) -> ReleaseEntry:
    return release_entry(image.variant, REGISTRY, image=image, report=smoke, push=push)


def report(outcome: str = "passed") -> SmokeReport:
    return SmokeReport(image="x", image_id="sha256:" + "cd" * 32, variant="v", gpu_tier=True,
                       cases=(SmokeCase("a", "passed", 1.0), SmokeCase("b", outcome, 2.0)),
                       figures={"deit_tiny_img_s": 8230})


def pushed(image: Image) -> PushResult:
    refs = tuple(REGISTRY.image_ref("pytorch", tag) for tag in image.tags)
    return PushResult(variant=image.variant.id, refs=refs, digest=DIGEST, layers_pushed=3, layers_existing=9,
                      bytes_pushed=123, seconds=9.5, labels=tags.variant_labels(image.variant))


def test_entry_maps_every_tag_to_the_digest(matrix):
    image = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    made = entry(image, report(), pushed(image))
    assert made.status == "ok" and made.error is None and made.digest == DIGEST
    assert made.tags[0] == made.dated_tag == "2.6.0-cuda12.4-cudnn9-runtime-2026-11-22"
    assert made.repository == "ghcr.io/team/pytorch"
    assert made.smoke.counts == {"passed": 2, "failed": 0, "skipped": 0}
    assert made.labels["io.imgbuild.torch"] == "2.6.0"
    assert ReleaseEntry.from_json(json.loads(json.dumps(made.to_json()))) == made  # release.json round trip


def test_the_zstd_twin_is_recorded_and_listed_beside_the_digest(matrix, tmp_path):
    from dataclasses import replace

    from imgbuild.publish.zstd import Twin

    image = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    twin = Twin(tags=tuple(tags.zstd_tag(t) for t in image.tags), digest="sha256:" + "ef" * 32, layers_converted=3,
                seconds=4.0)
    made = entry(image, report(), replace(pushed(image), zstd=twin))
    assert made.zstd_digest == twin.digest
    assert ReleaseEntry.from_json(json.loads(json.dumps(made.to_json()))) == made
    _, catalog = write_release([made], tmp_path)
    assert f"`docker pull ghcr.io/team/pytorch@{twin.digest}`" in catalog.read_text()
    _, catalog = write_release([entry(image, report(), pushed(image))], tmp_path / "gzip-only")
    assert "@sha256:efef" not in catalog.read_text()


def test_failed_smoke_or_missing_push_is_a_failed_entry(matrix):
    image = image_of(matrix, torch="2.6", cuda="cpu")
    assert entry(image, report("failed"), None).error == "smoke test failed (1 cases)"
    assert entry(image, report(), None).status == "failed"


def test_a_failed_build_is_an_entry_with_its_error(matrix):
    [v] = select(matrix, Selection(torch="2.6", cuda="cpu"))
    made = release_entry(v, REGISTRY, error="build failed at Step 4/31: boom")
    assert (made.status, made.tags, made.digest, made.repository) == ("failed", (), None, "ghcr.io/team/pytorch")
    assert made.error == "build failed at Step 4/31: boom"


def test_write_then_merge_keeps_the_newest_record(matrix, tmp_path):
    cuda = image_of(matrix, torch="2.6", cuda="12.4", flavor="runtime")
    cpu = image_of(matrix, torch="2.6", cuda="cpu")
    write_release([entry(cuda, report(), pushed(cuda))], tmp_path / "job1")
    entries = [entry(cpu, report(), pushed(cpu)), entry(cuda, report("failed"), None)]
    manifest, catalog = write_release(entries, tmp_path / "job2")
    assert json.loads(manifest.read_text())["generated"]
    text = catalog.read_text()
    assert "docker pull ghcr.io/team/pytorch:2.6.0-cpu-2026-11-22" in text
    assert f"docker pull ghcr.io/team/pytorch@{DIGEST}" in text and "Pin the **dated tag**" in text
    assert "## Failed" in text
    merged = merge_releases(tmp_path)
    assert [e.variant for e in merged] == sorted({cuda.variant.id, cpu.variant.id})
    assert all(e.status == ("ok" if "cpu" in e.variant else "failed") for e in merged)


def test_a_broken_manifest_is_named(tmp_path):
    (tmp_path / "release.json").write_text("{not json")
    with pytest.raises(ConfigError, match="release.json is not a release manifest"):
        merge_releases(tmp_path)
    assert merge_releases(tmp_path / "empty") == []


# A fragment of a nightly, as a hostile or damaged job may leave it: one good image, one good index, each overridable.
GOOD = {"variant": "2.6.0-cpu-py3.12-runtime", "repository": "ghcr.io/team/pytorch", "status": "ok", "digest": DIGEST,
        "tags": ["2.6.0-cpu"], "artifacts": {"sbom": DIGEST}}
GOOD_INDEX = {"variant": "2.6.0-cpu-py3.12-runtime", "repository": "ghcr.io/team/pytorch", "status": "ok",
              "digest": DIGEST, "tags": ["2.6.0-cpu"],
              "platforms": {"linux/amd64": {"tag": "2.6.0-cpu-amd64", "digest": DIGEST, "artifacts": {}}}}


def fragment(folder: Path, image: dict | None = None, index: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "release.json").write_text(json.dumps({"generated": "2026-12-04T00:00:00+00:00",
                                                     "images": [{**GOOD, **(image or {})}],
                                                     "indexes": [{**GOOD_INDEX, **(index or {})}]}))
    return folder / "release.json"


@pytest.fixture
def no_hang():
    """A read that blocks (a FIFO's open) fails the test in 5 s instead of hanging the run."""
    def late(*_):
        raise TimeoutError("blocked: the reader opened something that is not a file")
    previous = signal.signal(signal.SIGALRM, late)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["FIFO", "device", "socket"])
def test_a_release_json_that_is_no_file_is_refused_unopened(tmp_path, no_hang, kind):
    from imgbuild.release.manifest import release_files
    from imgbuild.release.releasefile import GPU_REPORT, with_gpu_reports

    for name in ("release.json", GPU_REPORT, "TAGS.md"):
        path = tmp_path / kind / name
        path.parent.mkdir(exist_ok=True)
        if kind == "FIFO":
            os.mkfifo(path)
        elif kind == "device":
            path.symlink_to("/dev/zero")  # read, it would never end
        else:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(str(path))
    with pytest.raises(ConfigError, match=rf"release.json is a {kind}, not a file: .* remove it"):
        merge_releases(tmp_path / kind)
    with pytest.raises(ConfigError, match=rf"gpu-tier.json is a {kind}, not a file"):
        with_gpu_reports([], tmp_path / kind)
    if kind != "device":  # a link is refused as a user's file before its target is looked at
        with pytest.raises(ConfigError, match=rf"release.json is a {kind}, not a file imgbuild wrote"):
            release_files(tmp_path / kind)  # what `catalog --out` and `join --out` claim before writing


@pytest.mark.parametrize("image, words", [
    ({"size": "6400000000"}, "field 'size' is a string '6400000000', not a whole number >= 0"),
    ({"build_seconds": "12.5"}, "field 'build_seconds' is a string '12.5', not a number >= 0"),
    ({"size": True}, "field 'size' is true/false, not a whole number"),
    ({"tags": "abc"}, "field 'tags' is a string 'abc', not a list"),
    ({"tags": ["ok", 3]}, "field 'tags[1]' is the number 3, not a string"),
    ({"size": -1}, "field 'size' is the number -1, not a whole number >= 0"),
    ({"size": 10 ** 400}, "field 'size' is the number 1000000000"),  # TAGS.md's size / 1e9 would overflow
    ({"push": {"layers_pushed": "3", "layers_existing": 0, "bytes_pushed": 0, "seconds": 1.0}},
     "field 'push.layers_pushed' is a string '3'"),
    ({"smoke": {"passed": "no", "counts": {}, "gpu_tier": False, "seconds": 1}},
     "field 'smoke.passed' is a string 'no', not true or false"),
    ({"smoke": "passed"}, "field 'smoke' is a string 'passed', not a mapping"),
    ({"labels": ["io.imgbuild.torch"]}, "field 'labels' is a list, not a mapping"),
    ({"status": "okay"}, "field 'status' is 'okay', not one of ok, failed, not-locked"),
    ({"changes": {"summary": 3}}, "field 'changes.summary' is the number 3, not a string"),
    ({"team": {"pip": "einops"}}, "field 'team.base' is missing"),
])
def test_a_field_of_the_wrong_type_is_named_with_its_file_and_entry(tmp_path, image, words):
    path = fragment(tmp_path, image)
    with pytest.raises(ConfigError) as raised:
        merge_releases(tmp_path)
    message = str(raised.value)  # the file, the entry, the field, what is wrong, the fix
    assert message.startswith(f"{path}: images[0] ('2.6.0-cpu-py3.12-runtime'): ") and words in message
    assert message.endswith(": re-run the job that wrote it, or remove the file") and "\n" not in message


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deep_nesting_is_named_not_a_recursion_error(tmp_path, depth):
    fragment(tmp_path)
    text = (tmp_path / "release.json").read_text().replace('"status": "ok"', '"status": "ok", "changes": '
                                                           + "[" * depth + "]" * depth, 1)
    (tmp_path / "release.json").write_text(text)
    with pytest.raises(ConfigError, match=r"release.json: images\[0\]: field 'changes\[0\]\[0\].*' is nested "
                                          r"deeper than 32 levels: re-run the job"):
        merge_releases(tmp_path)


@pytest.mark.parametrize("image, index, words", [
    ({"repository": "ghcr.io/team/pytorch\nevil.example/x"}, {}, "images[0] ('2.6.0-cpu-py3.12-runtime'): field "
     "'repository' is 'ghcr.io/team/pytorch\\nevil.example/x', which holds a line break"),
    ({"repository": "ghcr.io/team/py torch"}, {}, "field 'repository' is 'ghcr.io/team/py torch', not a repository"),
    ({"repository": "ghcr.io/team/pytorch:latest"}, {}, "not a repository HOST[:PORT]/PATH"),
    ({"repository": "team/pytorch"}, {}, "field 'repository' is 'team/pytorch', not a repository HOST[:PORT]/PATH"),
    ({"digest": "latest --insecure"}, {}, "field 'digest' is 'latest --insecure', not a digest (sha256: and 64"),
    ({"digest": "sha256:" + "AB" * 32}, {}, "field 'digest' is 'sha256:ABAB"),
    ({"artifacts": {"sbom": DIGEST + "\nevil.example/x@" + DIGEST}}, {}, "field 'artifacts.sbom'"),
    ({"zstd_digest": "sha256:00"}, {}, "field 'zstd_digest' is 'sha256:00', not a digest"),
    ({"dated_tag": "x y"}, {}, "field 'dated_tag' is 'x y', not a tag"),
    ({}, {"repository": "ghcr.io/team/pytorch\rx"}, "indexes[0] ('2.6.0-cpu-py3.12-runtime'): field 'repository'"),
    ({}, {"digest": "latest --insecure"}, "indexes[0] ('2.6.0-cpu-py3.12-runtime'): field 'digest' is 'latest"),
    ({}, {"platforms": {"linux/amd64": {"tag": "a", "digest": "x"}}}, "field 'platforms.linux/amd64.digest' is 'x'"),
    ({}, {"platforms": {"linux\namd64": {}}}, "field 'platforms (a key)' is 'linux\\namd64'"),
])
def test_what_the_nightly_signs_cannot_be_forged_from_release_json(tmp_path, image, index, words):
    """`digests` prints REPOSITORY@DIGEST lines that the nightly signs: a repository or digest from the file must
    never add a line, a flag or another registry's image."""
    from imgbuild.release.releasefile import read_releases

    fragment(tmp_path, image, index)
    with pytest.raises(ConfigError) as raised:
        read_releases(tmp_path)
    assert words in str(raised.value) and str(raised.value).count("\n") == 0


def test_a_failed_local_entry_keeps_its_repository_without_a_host(tmp_path):
    from imgbuild.release.releasefile import read_releases

    fragment(tmp_path, {"repository": "imgbuild/pytorch", "status": "failed", "digest": None, "artifacts": {},
                        "labels": {"description": "a base image's label\non two lines"}})  # free text: read as is
    [entry], [index] = read_releases(tmp_path)
    assert (entry.repository, entry.published, index.digest) == ("imgbuild/pytorch", False, DIGEST)
    assert entry.labels["description"].count("\n") == 1


def test_write_release_writes_both_files_or_neither(tmp_path, monkeypatch):
    from imgbuild.release import manifest

    def boom(*_):
        raise TypeError("cannot render")

    monkeypatch.setattr(manifest, "render_catalog", boom)
    with pytest.raises(TypeError):
        write_release([], tmp_path / "out")
    assert not (tmp_path / "out" / "release.json").exists()
