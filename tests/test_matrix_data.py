"""The one test of the shipped matrix.yaml's facts (every other unit test runs on tests/fixtures/matrix-small.yaml).

When a PyTorch release lands, this is the test to update alongside matrix.yaml."""

from helpers import ROOT
from imgbuild.core.paths import DEFAULT_MATRIX
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def test_the_shipped_matrix_facts():
    shipped = load_matrix(ROOT / "matrix.yaml")
    # the same bytes, whether imgbuild is the checkout (a link) or an installed wheel (a copy)
    assert DEFAULT_MATRIX.read_bytes() == (ROOT / "matrix.yaml").read_bytes(), "the wheel must carry this matrix"
    variants = shipped.expand()
    ids = [v.id for v in variants]
    assert len(ids) == len(set(ids)) and len(ids) <= 256, "one GitHub Actions matrix holds at most 256 jobs"
    assert {r.torch.rsplit(".", 1)[0] for r in shipped.releases} == {f"2.{n}" for n in range(4, 16)}
    for v in variants:
        if not v.is_cpu:
            assert v.cudnn.startswith("9.") and Version(v.min_driver) >= Version("450"), v.id
    # Every Python listed can install every pin (load_matrix checks it; this pins that the facts are recorded).
    pins = shipped.file.requires_python
    for release in shipped.releases:
        for pin in (f"jupyterlab=={shipped.file.defaults.jupyterlab}", f"torchvision=={release.torchvision}"):
            assert all(SpecifierSet(pins[pin]).contains(p) for p in release.pythons), (release.torch, pin)
    assert "3.8" not in next(r for r in shipped.releases if r.torch == "2.4.1").pythons  # jupyterlab 4.5.11: >=3.9
    assert {v.cuda for v in select(shipped, Selection(torch="2.6"))} == {"11.8", "12.4", "12.6", "cpu"}
    # The offline test variant the integration tests build.
    [v] = select(shipped, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))
    assert v.id == "2.14.1-cu130-py3.11-runtime" and v.pypi_carries
    torch_2_11 = next(r for r in shipped.releases if r.torch == "2.11.0")
    assert torch_2_11.cuda["12.8"].cudnn == torch_2_11.cuda["13.0"].cudnn == "9.19.0.56"  # the wheels' pins
