"""The publish stage without a daemon or a registry: the push-stream parser, the tested gate, the push order.

Fakes are autospecs of Engine and RegistryClient, so they cannot drift from the real classes."""

from __future__ import annotations

import io
from unittest.mock import create_autospec

import pytest
from imgbuild.build.image import Image
from imgbuild.core.errors import ImgbuildError, PublishError, RegistryError, RegistryUnreachable
from imgbuild.core.output import Reporter
from imgbuild.core.reference import ImageRef, RegistryRef
from imgbuild.engine.daemon import Engine
from imgbuild.publish.docker_push import PushStream
from imgbuild.publish.push import push_image
from imgbuild.registry.client import RegistryClient
from imgbuild.registry.credentials import Credentials
from imgbuild.registry.target import RegistryTarget
from imgbuild.smoke import record
from imgbuild.smoke.record import TestRecord, record_tested
from imgbuild.smoke.report import SmokeCase, SmokeReport
from rich.console import Console

IMAGE_ID, DIGEST = "sha256:" + "cd" * 32, "sha256:" + "ef" * 32
LOCAL = ImageRef("imgbuild/pytorch", "2.6.0-cpu")
IMAGE = Image(id=IMAGE_ID, ref=LOCAL, refs=(LOCAL.with_tag("2.6.0-cpu"), LOCAL.with_tag("2.6.0-cpu-2026-11-22")),
              labels={"io.imgbuild.variant": "2.6.0-cpu-py3.12-runtime"})
STREAM = [
    {"status": "The push refers to repository [127.0.0.1:5000/team/pytorch]"},
    {"status": "Preparing", "id": "aaa"}, {"status": "Preparing", "id": "bbb"}, {"status": "Preparing", "id": "ccc"},
    {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 512, "total": 2048}},
    {"status": "Pushing", "id": "aaa", "progressDetail": {"current": 2048, "total": 2048}},
    {"status": "Pushed", "id": "aaa"},
    {"status": "Layer already exists", "id": "bbb"},
    {"status": "Mounted from team/other", "id": "ccc"},
    {"status": "2.6.0-cpu: digest: " + DIGEST + " size: 1234"},
    {"progressDetail": {}, "aux": {"Tag": "2.6.0-cpu", "Digest": DIGEST, "Size": 1234}},
]


def quiet() -> Reporter:
    return Reporter(Console(file=io.StringIO()), out=Console(file=io.StringIO()))


def test_the_stream_parser_counts_layers_sizes_and_the_digest():
    stream = PushStream().read(STREAM)
    assert stream.layers == {"aaa": "pushed", "bbb": "existing", "ccc": "existing"}
    assert stream.sizes == {"aaa": 2048} and stream.digest == DIGEST and stream.error is None


def test_the_stream_parser_keeps_the_error_without_the_secret():
    stream = PushStream().read([{"status": "Preparing", "id": "aaa"},
                                {"errorDetail": {"message": "x"}, "error": "unauthorized: user ci pw s3cret"}],
                               scrub=lambda text: text.replace("s3cret", "***"))
    assert stream.error == "unauthorized: user ci pw ***" and stream.digest is None


def target() -> RegistryTarget:
    client = create_autospec(RegistryClient, instance=True)
    client.disk_full.return_value = None  # a registry whose answers name no cause (a full disk is one that does)
    return RegistryTarget(RegistryRef("127.0.0.1:5000", "team"), Credentials("ci", "s3cret"), client, zstd=False)


def passing(image_id: str = IMAGE_ID, outcome: str = "passed") -> SmokeReport:
    return SmokeReport(image=str(LOCAL), image_id=image_id, variant="v", gpu_tier=False,
                       cases=(SmokeCase("inside::check", outcome, 0.1),))


@pytest.mark.parametrize("tested", [None, passing(outcome="failed"), passing(image_id="sha256:" + "00" * 32),
                                    TestRecord(IMAGE_ID, passed=False)],
                         ids=["never-tested", "failed", "another-image", "failed-record"])
def test_only_a_passing_test_of_this_very_image_opens_the_gate(tested):
    engine = create_autospec(Engine, instance=True)
    with pytest.raises(PublishError, match="was not tested .*--allow-untested"):
        push_image(engine, IMAGE, target(), tested, reporter=quiet())
    engine.tag.assert_not_called()
    engine.push.assert_not_called()


def test_the_record_of_an_earlier_run_opens_the_gate_across_runs(tmp_path):
    record_tested(passing(), tmp_path)
    assert record.tested_record(IMAGE_ID, tmp_path) == TestRecord(IMAGE_ID, passed=True)
    assert record.tested_record("sha256:" + "00" * 32, tmp_path) is None


def test_a_push_goes_dated_tag_first_verifies_and_leaves_no_registry_tag_behind():
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    engine.read_file.return_value = None  # an image without an SBOM: nothing to attach (tests/integration/test_attest)
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]  # immutability check, then one read-back per tag
    result = push_image(engine, IMAGE, goal, passing(), reporter=quiet())
    pushed = [str(call.args[0]) for call in engine.push.call_args_list]
    assert pushed == ["127.0.0.1:5000/team/pytorch:2.6.0-cpu-2026-11-22", "127.0.0.1:5000/team/pytorch:2.6.0-cpu"]
    assert engine.push.call_args.args[1] == {"username": "ci", "password": "s3cret"}
    assert [str(r) for r in result.refs] == pushed and result.digest == DIGEST
    assert (result.layers_pushed, result.layers_existing, result.bytes_pushed) == (1, 2, 2048)
    assert sorted(str(call.args[0]) for call in engine.untag.call_args_list) == sorted(pushed)
    assert result.variant == "2.6.0-cpu-py3.12-runtime" and result.artifacts == {}


def test_a_read_back_that_differs_fails_the_push():
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    goal.client.manifest_digest.side_effect = [None, "sha256:" + "11" * 32]
    goal.client.image_manifest.return_value = {"config": {"digest": "sha256:" + "22" * 32}}  # another image
    with pytest.raises(PublishError, match="reads back as sha256:1111.* but the engine pushed"):
        push_image(engine, IMAGE, goal, passing(), reporter=quiet())
    engine.untag.assert_called()  # the registry-named tag is removed even on failure


def test_podman_naming_another_digest_is_accepted_when_the_tag_holds_this_image():
    """Podman's Docker-compatible push names a digest the registry does not hold; the tag's config is the check."""
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    engine.read_file.return_value = None
    written = "sha256:" + "33" * 32
    goal.client.manifest_digest.side_effect = [None, written, written]
    goal.client.image_manifest.return_value = {"config": {"digest": IMAGE.id}}
    assert push_image(engine, IMAGE, goal, passing(), reporter=quiet()).digest == written  # the registry's


def test_one_rule_for_dated_tags_every_writer_asks():
    from imgbuild.publish.immutable import dated_tag_holds

    client = create_autospec(RegistryClient, instance=True)
    client.host = "127.0.0.1:5000"
    client.manifest_digest.return_value = DIGEST
    client.image_manifest.return_value = {"config": {"digest": IMAGE_ID}}
    assert dated_tag_holds(client, "team/pytorch", "2.6-cpu", "sha256:" + "11" * 32, fix="x") is None  # not dated
    assert dated_tag_holds(client, "team/pytorch", "2.6-cpu-2026-12-07", DIGEST, fix="x") == DIGEST  # a re-run
    assert dated_tag_holds(client, "team/pytorch", "2.6-cpu-2026-12-07", None, image_id=IMAGE_ID, fix="x") == DIGEST
    with pytest.raises(PublishError, match=r"2.6-cpu-2026-12-07-zstd already names .*dated tags are immutable; "
                                           r"re-run tomorrow"):
        dated_tag_holds(client, "team/pytorch", "2.6-cpu-2026-12-07-zstd", "sha256:" + "11" * 32,
                        fix="re-run tomorrow")


@pytest.mark.parametrize("marker_fails", [False, True], ids=["written", "registry-refused"])
def test_every_image_pushed_with_a_passing_report_gets_its_tested_marker_from_the_push(marker_fails):
    """The one writer of the marker is the push, so a release's team image and `imgbuild push` both get it."""
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    engine.read_file.return_value = None
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    goal.client.manifest_bytes.return_value = (b"{}", "application/vnd.oci.image.manifest.v1+json")
    if marker_fails:
        goal.client.put_manifest.side_effect = RegistryError("registry 127.0.0.1:5000 answered 500")
    result = push_image(engine, IMAGE, goal, passing(), reporter=quiet())
    goal.client.put_manifest.assert_called_once_with("team/pytorch", DIGEST.replace(":", "-") + ".tested", b"{}",
                                                     "application/vnd.oci.image.manifest.v1+json")
    assert result.tested_marker == ("not written: registry 127.0.0.1:5000 answered 500" if marker_fails else None)


def test_an_image_pushed_untested_gets_no_tested_marker():
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    engine.read_file.return_value = None
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    result = push_image(engine, IMAGE, goal, None, reporter=quiet(), allow_untested=True)
    goal.client.put_manifest.assert_not_called()
    assert result.tested_marker == "not tested"


@pytest.mark.parametrize("cause, kind", [
    ("registry 127.0.0.1:5000 answered 500 uploading a blob to team/pytorch (disk full)", PublishError),
    ("registry 127.0.0.1:5000 is not reachable (connection refused): start it or check --registry", RegistryError)],
    ids=["upload-failed", "registry-gone"])
def test_tags_published_without_their_referrers_say_so_and_that_a_rerun_attaches_them(monkeypatch, cause, kind):
    from imgbuild.publish import push

    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    raised_by_client = RegistryUnreachable if "not reachable" in cause else RegistryError  # as the client raises them
    monkeypatch.setattr(push, "attach", create_autospec(push.attach, side_effect=raised_by_client(cause)))
    with pytest.raises(kind) as raised:
        push_image(engine, IMAGE, goal, passing(), reporter=quiet())
    assert type(raised.value) is kind  # exit 6 for a failed upload, 7 for a registry that is gone (README's table)
    line = str(raised.value)
    assert "2.6.0-cpu-2026-11-22, 2.6.0-cpu are published at " + DIGEST in line
    assert "without its SBOM, provenance and tested marker" in line and "re-run the same command" in line
    goal.client.put_manifest.assert_not_called()  # no tested marker for an image whose referrers are missing


@pytest.mark.parametrize("error, kind", [
    ("Get http://127.0.0.1:5000/v2/: dial tcp 127.0.0.1:5000: connect: connection refused", RegistryError),
    ("unauthorized: authentication required", RegistryError),
    ('failed to do request: Post "http://127.0.0.1:5000/v2/team/pytorch/blobs/uploads/": EOF', RegistryError),
    ("blob upload invalid: digest mismatch", PublishError)], ids=["unreachable", "refused", "died-mid-push", "other"])
def test_a_failed_push_has_the_exit_code_of_its_kind_wherever_it_happens(error, kind):
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter([{"error": error}])
    goal.client.manifest_digest.return_value = None
    with pytest.raises(ImgbuildError) as raised:
        push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=0)
    assert isinstance(raised.value, kind) and raised.value.exit_code == kind.exit_code
    assert "nothing was half-published" in str(raised.value)


def test_a_long_push_says_how_far_it_is(monkeypatch):
    from imgbuild.publish import push

    clock = iter(range(0, 10_000, 20))  # each message 20 s after the last
    monkeypatch.setattr(push.time, "monotonic", lambda: next(clock))
    said = []
    stream = PushStream(tell=said.append)
    stream.read([{"status": "Pushing", "id": "aaa", "progressDetail": {"current": n * 10**8, "total": 10**9}}
                 for n in range(1, 6)])
    assert said == ["300 of 1,000 MB of 1 layer sent", "500 of 1,000 MB of 1 layer sent"]  # 30 s apart at least


@pytest.mark.parametrize("store, first_error, reruns", [
    ("classic", "stalled: nothing moved for 120 s", 1),
    ("classic", "dial tcp 127.0.0.1:5000: connect: connection refused", 1),
    ("classic", "received unexpected HTTP status: 503 Service Unavailable", 0),  # Docker retried it per layer
    ("containerd", "received unexpected HTTP status: 503 Service Unavailable", 1),  # it did not: imgbuild does
    ("containerd", 'Post "http://127.0.0.1:5000/v2/team/pytorch/blobs/uploads/": EOF', 1),
    ("containerd", "unknown: blob upload invalid", 0)],
    ids=["stalled", "restarting", "classic-503", "containerd-503", "containerd-eof", "containerd-refused-blob"])
def test_docker_push_is_run_again_only_where_the_engine_did_not_retry_itself(store, first_error, reruns):
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.is_podman, engine.containerd_store = False, store == "containerd"
    answers = iter([[{"error": first_error}], STREAM, STREAM])
    engine.push.side_effect = lambda ref, auth, stall: iter(next(answers))
    engine.read_file.return_value = None
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    goal.client.disk_full.return_value = None
    if reruns:
        assert len(push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=2, backoff=0.001).refs) == 2
        assert engine.push.call_count == 3  # the failed one, run again, then the second tag
    else:
        with pytest.raises(ImgbuildError):
            push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=2, backoff=0.001)
        assert engine.push.call_count == 1


def test_the_stall_bound_given_to_the_push_bounds_every_docker_push():
    """A test (tests/integration/test_faults.py) freezes a registry for seconds, not the 2 minutes a user waits."""
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter(STREAM)
    engine.read_file.return_value = None
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    push_image(engine, IMAGE, goal, passing(), reporter=quiet(), stall=3)
    assert [call.kwargs["stall"] for call in engine.push.call_args_list] == [3, 3]
    goal.client.manifest_digest.side_effect = [None, DIGEST, DIGEST]
    push_image(engine, IMAGE, goal, passing(), reporter=quiet())
    assert engine.push.call_args.kwargs["stall"] == 120  # a user's default


def test_a_stalled_push_says_it_stalled():
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter([{"error": f"stalled: nothing moved for {stall:.0f} s"}])
    goal.client.manifest_digest.return_value = None
    with pytest.raises(RegistryError) as raised:
        push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=0, stall=4)
    assert str(raised.value).startswith("registry 127.0.0.1:5000 is not reachable (stalled: nothing moved for 4 s)")


@pytest.mark.parametrize("error, kind", [
    ("received unexpected HTTP status: 503 Service Unavailable", PublishError),
    ("dial tcp 127.0.0.1:5000: connect: connection refused", RegistryError)], ids=["503", "gone"])
def test_a_tag_that_fails_after_the_dated_one_is_published_says_what_the_published_one_lacks(error, kind):
    """The dated tag holds the image, the next tag's push fails: what goes beside the image is not there."""
    engine, goal = create_autospec(Engine, instance=True), target()
    answers = iter([STREAM, [{"error": error}], [{"error": error}]])
    engine.push.side_effect = lambda ref, auth, stall: iter(next(answers))
    goal.client.manifest_digest.side_effect = [None, DIGEST]
    with pytest.raises(ImgbuildError) as raised:
        push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=1, backoff=0.001)
    line = str(raised.value)
    assert isinstance(raised.value, kind) and raised.value.exit_code == kind.exit_code and "\n" not in line
    assert line.startswith("127.0.0.1:5000/team/pytorch 2.6.0-cpu-2026-11-22 is published at " + DIGEST
                           + ", without its SBOM, provenance and tested marker, and 2.6.0-cpu is not pushed ("), line
    assert line.endswith("): re-run the same command to attach them"), line
    assert "half-published" not in line  # the cause alone inside: no second fix
    goal.client.put_manifest.assert_not_called()
    assert len(engine.untag.call_args_list) == 2  # both registry-named tags taken back


def test_a_push_docker_failed_with_a_bare_status_says_why_where_the_registry_does():
    """Docker's push error names a 500, not the full disk the registry's answer body names."""
    engine, goal = create_autospec(Engine, instance=True), target()
    engine.push.side_effect = lambda ref, auth, stall: iter([{"error": "unexpected status from POST request to "
                                                              "http://127.0.0.1:5000/v2/x: 500 Internal Server Error"}])
    goal.client.manifest_digest.return_value = None
    goal.client.disk_full.return_value = RegistryError("registry 127.0.0.1:5000 is out of disk space (...)")
    with pytest.raises(PublishError) as raised:
        push_image(engine, IMAGE, goal, passing(), reporter=quiet(), retries=0)
    assert "500 Internal Server Error; registry 127.0.0.1:5000 is out of disk space" in str(raised.value)
    assert goal.client.request.call_args_list[0].args[:2] == ("POST", "/v2/team/pytorch/blobs/uploads/")
