"""The tag scheme of the README ("Tags"), exactly."""

import datetime as dt

import pytest
from imgbuild.core import tags
from imgbuild.matrix.select import Selection, select

DAY = dt.date(2026, 11, 22)


def one(matrix, **kw):
    [v] = select(matrix, Selection(**kw))
    return v


@pytest.mark.parametrize("selection, dated_release_and_floating", [
    ({"torch": "2.6", "cuda": "12.4", "flavor": "runtime"},
     ["2.6.0-cuda12.4-cudnn9-runtime-2026-11-22", "2.6.0-cuda12.4-cudnn9-runtime", "2.6-cuda12.4-runtime"]),
    ({"torch": "2.6", "cuda": "cpu"}, ["2.6.0-cpu-2026-11-22", "2.6.0-cpu", "2.6-cpu"]),
], ids=["cuda", "cpu"])
def test_dated_release_and_floating_tags(matrix, selection, dated_release_and_floating):
    assert tags.tags(one(matrix, **selection), DAY) == dated_release_and_floating


def test_non_default_python_goes_before_the_date(matrix):
    v = one(matrix, torch="2.6", cuda="12.4", flavor="runtime", python="3.11")
    assert tags.dated_tag(v, DAY) == "2.6.0-cuda12.4-cudnn9-runtime-py3.11-2026-11-22"
    assert tags.release_tag(v) == "2.6.0-cuda12.4-cudnn9-runtime-py3.11"


def test_latest_is_exactly_one_variant_the_newest_default(matrix):
    latest = [v for v in matrix.expand() if "latest" in tags.tags(v, DAY)]
    assert len(latest) == 1
    [v] = latest
    assert v.torch == matrix.releases[-1].torch and v.flavor == "runtime" and v.default_cuda and v.default_python


def test_tags_never_collide_between_variants(matrix):
    seen = {}
    for v in matrix.expand():
        for tag in tags.tags(v, DAY):
            assert tag not in seen, f"{tag} of {v.id} also belongs to {seen.get(tag)}"
            seen[tag] = v.id


def test_only_the_dated_tag_is_dated(matrix):
    v = one(matrix, torch="2.14", cuda="13.0", flavor="runtime", python="3.11")
    assert [t for t in tags.tags(v, DAY) if tags.is_dated(t)] == [tags.dated_tag(v, DAY)]


def test_labels_carry_the_variant(matrix):
    v = one(matrix, torch="2.14", cuda="13.0", flavor="devel", python="3.11")
    labels = tags.variant_labels(v)
    assert labels["io.imgbuild.torch"] == "2.14.1" and labels["io.imgbuild.cuda"] == "13.0"
    assert labels["io.imgbuild.min-driver"] == v.min_driver and labels["io.imgbuild.flavor"] == "devel"


def test_every_tag_has_a_zstd_twin_and_a_dated_twin_is_dated_too(matrix):
    v = one(matrix, torch="2.14", cuda="13.0", flavor="runtime", python="3.11")
    twins = [tags.zstd_tag(t) for t in tags.tags(v, DAY)]
    assert twins[0] == tags.dated_tag(v, DAY) + "-zstd"
    assert [t for t in twins if tags.is_dated(t)] == [twins[0]]  # immutable like its plain tag
    assert len(set(twins) | set(tags.tags(v, DAY))) == 2 * len(twins)  # no twin is another image's plain tag
    assert not tags.is_dated("2.14-cuda13.0-runtime-zstd") and not tags.is_dated("latest-zstd")
