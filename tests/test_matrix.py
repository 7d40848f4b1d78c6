"""Loading, expansion and selection of the real matrix.yaml."""

import pytest
from imgbuild.errors import NothingSelected
from imgbuild.matrix import Selection, select
from packaging.version import Version


def test_covers_every_torch_minor_from_2_4_to_2_15(matrix):
    minors = {".".join(r.torch.split(".")[:2]) for r in matrix.releases}
    assert minors == {f"2.{n}" for n in range(4, 16)}


def test_every_cuda_variant_has_cudnn_and_min_driver(matrix):
    for v in matrix.expand():
        if v.is_cpu:
            assert v.cudnn is None and v.min_driver is None and v.flavor == "runtime"
        else:
            assert v.cudnn and v.cudnn.startswith("9."), v.id
            assert Version(v.min_driver) >= Version("450"), v.id


def test_expansion_fits_one_github_matrix_and_ids_are_unique(matrix):
    ids = [v.id for v in matrix.expand()]
    assert len(ids) <= 256
    assert len(ids) == len(set(ids))


def test_one_default_python_per_torch_cuda_flavor(matrix):
    seen = {}
    for v in matrix.expand():
        if v.default_python:
            key = (v.torch, v.cuda, v.flavor)
            assert key not in seen, f"two default Pythons for {key}"
            seen[key] = v.python
    assert len(seen) == sum(len(matrix.builds(r)) for r in matrix.releases)


def test_torch_2_6_has_the_cuda_builds_pytorch_published(matrix):
    cudas = {v.cuda for v in select(matrix, Selection(torch="2.6"))}
    assert cudas == {"11.8", "12.4", "12.6", "cpu"}


def test_offline_test_variant_exists(matrix):
    [v] = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))
    assert v.id == "2.14.1-cu130-py3.11-runtime" and v.cudnn_major == "9" and v.pypi_carries


@pytest.mark.parametrize("torch", ["2.6", "2.6.0"])
def test_minor_or_patch_selects_the_same_release(matrix, torch):
    assert {v.torch for v in select(matrix, Selection(torch=torch))} == {"2.6.0"}


def test_defaults_pick_the_default_python_only(matrix):
    chosen = select(matrix, Selection(torch="2.6", cuda="12.4", flavor="runtime"))
    assert [v.id for v in chosen] == ["2.6.0-cu124-py3.12-runtime"]


def test_cuda_spelled_as_index_tag(matrix):
    assert select(matrix, Selection(torch="2.6", cuda="cu124", flavor="runtime"))[0].cuda == "12.4"


def test_variant_globs_reach_extra_pythons(matrix):
    chosen = select(matrix, Selection(variant=("2.6.0-cu124-*-runtime",)))
    assert {v.python for v in chosen} == {"3.12", "3.13"}


def test_no_selection_is_the_whole_matrix(matrix):
    assert select(matrix, Selection()) == matrix.expand()


def test_missing_cuda_build_names_the_ones_that_exist(matrix):
    with pytest.raises(NothingSelected) as err:
        select(matrix, Selection(torch="2.6", cuda="12.1"))
    message = str(err.value)
    assert "torch 2.6.0 has no CUDA 12.1 build" in message
    assert "11.8, 12.4, 12.6" in message and "imgbuild matrix --torch 2.6 --cuda" in message


@pytest.mark.parametrize("selection, words", [
    (Selection(torch="3.1"), "unknown torch 3.1"),
    (Selection(torch="2.6", python="3.8"), "no wheels for Python 3.8"),
    (Selection(flavor="slim"), "unknown flavor 'slim'"),
    (Selection(cuda="10.2"), "no release in the matrix has a CUDA 10.2 build"),
    (Selection(variant=("nope-*",)), "no variant matches nope-*"),
])
def test_unknown_values_say_what_exists(matrix, selection, words):
    with pytest.raises(NothingSelected, match=words):
        select(matrix, selection)
