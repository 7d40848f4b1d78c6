"""Expansion and selection, on the small fixture matrix (tests/fixtures/matrix-small.yaml)."""

import pytest
from imgbuild.core.errors import ConfigError, NothingSelected
from imgbuild.matrix.select import Selection, select


def test_expansion_builds_each_default_python_plus_extras_and_ids_are_unique(matrix):
    ids = [v.id for v in matrix.expand()]
    assert len(ids) == len(set(ids))
    # 2.6.0 and 2.14.1: 3 CUDA x 2 flavors + cpu = 7 builds; 2.15.0: 5 builds; each at its default and one extra
    assert len(ids) == 2 * (7 + 7 + 5)
    assert ids[0] == "2.6.0-cu118-py3.12-runtime"  # oldest release first, whatever order the file lists them in


def test_every_cuda_variant_has_cudnn_and_min_driver_and_cpu_is_runtime_only(matrix):
    for v in matrix.expand():
        if v.is_cpu:
            assert v.cudnn is None and v.min_driver is None and v.flavor == "runtime"
        else:
            assert v.cudnn and v.min_driver and v.nvcc_package, v.id


def test_one_default_python_per_torch_cuda_flavor(matrix):
    seen = {}
    for v in matrix.expand():
        if v.default_python:
            key = (v.torch, v.cuda, v.flavor)
            assert key not in seen, f"two default Pythons for {key}"
            seen[key] = v.python
    assert len(seen) == sum(len(matrix.builds(r)) for r in matrix.releases)


def test_a_release_selects_its_builds(matrix):
    assert {v.cuda for v in select(matrix, Selection(torch="2.6"))} == {"11.8", "12.4", "12.6", "cpu"}


def test_the_offline_test_variant(matrix):
    [v] = select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))
    assert v.id == "2.14.1-cu130-py3.11-runtime" and v.cudnn_major == "9" and v.pypi_carries and not v.newest


@pytest.mark.parametrize("torch", ["2", "2.6", "2.6.0"])
def test_major_minor_or_patch_selects_by_prefix(matrix, torch):
    assert "2.6.0" in {v.torch for v in select(matrix, Selection(torch=torch))}


@pytest.mark.parametrize("spelling", ["cu124", "CU124", " 12.4 "])
def test_cuda_spelled_as_index_tag(matrix, spelling):
    assert Selection(cuda=spelling).cuda == "12.4"
    assert select(matrix, Selection(torch="2.6", cuda=spelling, flavor="runtime"))[0].cuda == "12.4"


@pytest.mark.parametrize("selection, chosen", [
    (Selection(torch="2.6", cuda="12.4", flavor="runtime"), ["2.6.0-cu124-py3.12-runtime"]),
    (Selection(torch="2.6", cuda="12.4", flavor="runtime", python="all"),
     ["2.6.0-cu124-py3.12-runtime", "2.6.0-cu124-py3.13-runtime"]),
    (Selection(variant=("2.6.0-cu124-*-runtime",)), ["2.6.0-cu124-py3.12-runtime", "2.6.0-cu124-py3.13-runtime"]),
], ids=["the defaults pick the default Python only", "--python all selects every Python built",
        "a variant glob reaches the extra Pythons"])
def test_which_pythons_a_selection_reaches(matrix, selection, chosen):
    assert [v.id for v in select(matrix, selection)] == chosen


def test_no_selection_is_the_whole_matrix(matrix):
    assert select(matrix, Selection()) == matrix.expand()


def test_missing_cuda_build_names_the_ones_that_exist(matrix):
    with pytest.raises(NothingSelected) as err:
        select(matrix, Selection(torch="2.6", cuda="12.1"))
    message = str(err.value)
    assert "torch 2.6.0 has no CUDA 12.1 build" in message
    assert "11.8, 12.4, 12.6" in message and "imgbuild matrix --torch 2.6 --cuda 12.6" in message


@pytest.mark.parametrize("selection, words", [
    (Selection(torch="3.1"), "unknown torch 3.1: the matrix has 2.6, 2.14, 2.15"),
    (Selection(torch="2.6", python="3.8"), "no wheels for Python 3.8"),
    (Selection(cuda="10.2"), "no release in the matrix has a CUDA 10.2 build"),
    (Selection(variant=("nope-*",)), "no variant matches nope-*"),
])
def test_unknown_values_say_what_exists(matrix, selection, words):
    with pytest.raises(NothingSelected, match=words):
        select(matrix, selection)


@pytest.mark.parametrize("fields, words", [
    ({"torch": ""}, "--torch is empty"),
    ({"torch": "  "}, "--torch is empty"),
    ({"cuda": ""}, "--cuda is empty"),
    ({"flavor": ""}, "--flavor is empty"),
    ({"python": ""}, "--python is empty"),
    ({"variant": ("",)}, "--variant '' is not a variant id"),
    ({"variant": ("x" * 300,)}, "is not a variant id"),
    ({"torch": "2.6.x"}, "--torch '2.6.x' is not a torch version"),
    ({"torch": "2.6\n"}, "is not a torch version"),
    ({"torch": "9" * 5000}, "is not a torch version"),
    ({"torch": "٢.٦"}, "is not a torch version"),  # Unicode digits are not version digits
    ({"cuda": "cu12"}, "--cuda 'cu12' is not a CUDA version: use e.g. 12.4 (or cu124), or cpu"),
    ({"cuda": "12"}, "is not a CUDA version"),
    ({"cuda": "12.04"}, "is not a CUDA version"),
    ({"cuda": "gpu"}, "is not a CUDA version"),
    ({"flavor": "slim"}, "unknown flavor 'slim': flavors are runtime, devel"),
    ({"python": "3"}, "--python '3' is not a Python version"),
    ({"python": "py3.11"}, "is not a Python version"),
    ({"cuda": "cpu", "flavor": "devel"}, "CPU builds come in the runtime flavor only: drop --flavor devel"),
])
def test_a_selection_refuses_values_that_cannot_select(fields, words):
    with pytest.raises(ConfigError) as err:
        Selection(**fields)
    assert words in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 200
