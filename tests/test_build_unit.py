"""The build stage against a fake engine: options reach the engine; tags only after success."""

import datetime as dt
import json

import pytest
from imgbuild import build as build_mod
from imgbuild.build import BuildOptions, build, torch_index
from imgbuild.engine import ImageInfo, RunResult
from imgbuild.errors import BuildError, ConfigError
from imgbuild.matrix import Selection, select
from imgbuild.progress import Reporter

INVENTORY = json.dumps({"python": [["torch", "2.14.1", ""]], "os": [["bash", "5.2.15-2+b7", "amd64", "bash"]],
                        "distro": {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"},
                        "lock": "torch==2.14.1\n", "lock_sha256": "0" * 64})


class FakeEngine:
    def __init__(self, fail=False):
        self.fail, self.calls, self.tagged, self.contexts = fail, [], [], []

    def build(self, context, **kw):
        self.calls.append(kw)
        self.contexts.append(context)
        kw["on_step"](1, 2, "FROM x")
        if self.fail:
            raise BuildError("build failed at Step 4/31: boom")
        return "sha256:sealed" if len(self.calls) > 1 else "sha256:abc"

    def run(self, image, command, entrypoint=None):
        return RunResult(exit_code=0, output=INVENTORY)

    def tag(self, image_id, ref):
        self.tagged.append(ref)

    def image(self, ref):
        return ImageInfo(id="sha256:sealed", tags=(), digests=(), size=123)


@pytest.fixture
def variant(matrix):
    return select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))[0]


def options(tmp_path, **kw):
    return BuildOptions(work_dir=tmp_path, date=dt.date(2026, 11, 22), **kw)


def test_no_cache_and_network_reach_the_engine(variant, tmp_path):
    engine = FakeEngine()
    build(variant, engine, options(tmp_path, no_cache=True, network="host"), Reporter())
    assert engine.calls[0]["nocache"] is True and engine.calls[0]["network"] == "host"


def test_every_tag_is_applied_after_success(variant, tmp_path):
    engine = FakeEngine()
    image = build(variant, engine, options(tmp_path), Reporter())
    assert engine.tagged == [f"imgbuild/pytorch:{t}" for t in (
        "2.14.1-cuda13.0-cudnn9-runtime-2026-11-22", "2.14.1-cuda13.0-cudnn9-runtime", "2.14-cuda13.0-runtime")]
    assert image.refs == tuple(engine.tagged)


def test_the_sbom_and_provenance_are_sealed_into_the_image_before_tagging(variant, tmp_path):
    engine = FakeEngine()
    image = build(variant, engine, options(tmp_path), Reporter())
    sealed = engine.contexts[1]
    assert (sealed / "Dockerfile").read_text().startswith("FROM sha256:abc\nCOPY sbom.cdx.json provenance.json")
    sbom = json.loads((sealed / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and {c["name"] for c in sbom["components"]} == {"torch", "bash"}
    predicate = json.loads((sealed / "provenance.json").read_text())
    assert predicate["buildDefinition"]["externalParameters"]["variant"]["id"] == variant.id
    assert image.id == "sha256:sealed" and engine.calls[1]["labels"] == {}


def test_a_failed_build_tags_nothing(variant, tmp_path):
    engine = FakeEngine(fail=True)
    with pytest.raises(BuildError):
        build(variant, engine, options(tmp_path), Reporter())
    assert engine.tagged == []


def test_ca_certs_land_in_the_context_as_crt(variant, tmp_path):
    cert = tmp_path / "corp.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    ctx = build_mod.prepare(variant, options(tmp_path, ca_certs=(cert,)))
    [copied] = (ctx.path / "ca-certificates").iterdir()
    assert copied.suffix == ".crt" and copied.read_text() == cert.read_text()


def test_index_choice(variant, matrix, tmp_path):
    assert torch_index(variant, options(tmp_path)) == "https://download.pytorch.org/whl/cu130"
    assert torch_index(variant, options(tmp_path, index="pypi")) == ""
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert torch_index(variant, options(tmp_path, wheelhouse=tmp_path / "wh")) == ""
    other = select(matrix, Selection(torch="2.14", cuda="12.6", flavor="runtime", python="3.11"))[0]
    assert torch_index(other, options(tmp_path, wheelhouse=tmp_path / "wh")) == other.index


def test_index_pypi_refuses_a_build_pypi_does_not_carry(matrix, tmp_path):
    from imgbuild.build import check_options

    other = select(matrix, Selection(torch="2.6", cuda="11.8", flavor="runtime"))[0]
    with pytest.raises(ConfigError, match="PyPI's torch 2.6.0 is not the cu118 build"):
        check_options(other, options(tmp_path, index="pypi"))


def test_a_wheelhouse_needs_the_host_network(variant, tmp_path):
    from imgbuild.build import check_options

    with pytest.raises(ConfigError, match="use --network host"):
        check_options(variant, options(tmp_path, wheelhouse=tmp_path, network="bridge"))
