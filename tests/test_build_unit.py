"""The build stage against a fake engine: options reach the engine; tags only after success."""

import datetime as dt
import json
from unittest.mock import create_autospec

import pytest
from imgbuild.build import build as build_mod
from imgbuild.build.build import build
from imgbuild.build.options import BuildOptions, check_options, torch_index
from imgbuild.build.seal import SEAL_REPOSITORY
from imgbuild.core.choices import Index, Network
from imgbuild.core.errors import BuildError, ConfigError
from imgbuild.core.output import Reporter
from imgbuild.engine.daemon import Engine
from imgbuild.engine.values import ImageInfo, RunResult
from imgbuild.matrix.select import Selection, select

INVENTORY = json.dumps({"python": [["torch", "2.14.1", ""]], "os": [["bash", "5.2.15-2+b7", "amd64", "bash"]],
                        "distro": {"ID": "debian", "VERSION_ID": "12", "VERSION_CODENAME": "bookworm"},
                        "lock": "torch==2.14.1\n", "lock_sha256": "0" * 64})


def fake_engine(fail: bool = False) -> Engine:
    """An Engine whose methods keep the real signatures (create_autospec), so the fake cannot drift."""
    engine = create_autospec(Engine, instance=True)

    def run_build(context, **kw):
        kw["on_step"](1, 2, "FROM x")
        if fail:
            raise BuildError("build failed at Step 4/31: boom")
        return "sha256:sealed" if engine.build.call_count > 1 else "sha256:abc"  # the second build seals the SBOM

    engine.build.side_effect = run_build
    engine.run.return_value = RunResult(exit_code=0, output=INVENTORY)
    engine.image.return_value = ImageInfo(id="sha256:sealed", tags=(), digests=(), size=123)
    return engine


def tagged(engine) -> list[str]:
    """The image's own tags (the seal names the unsealed image for a moment, and removes that name)."""
    return [str(call.args[1]) for call in engine.tag.call_args_list if call.args[1].repository != SEAL_REPOSITORY]


@pytest.fixture
def variant(matrix):
    return select(matrix, Selection(torch="2.14", cuda="13.0", flavor="runtime", python="3.11"))[0]


def options(tmp_path, **kw):
    return BuildOptions(work_dir=tmp_path, date=dt.date(2026, 11, 22), **kw)


def test_no_cache_and_network_reach_the_engine(variant, tmp_path):
    engine = fake_engine()
    build(variant, engine, options(tmp_path, no_cache=True, network=Network.host), Reporter())
    main = engine.build.call_args_list[0].kwargs  # the second build only seals the SBOM in
    assert main["nocache"] is True and main["network"] == "host"


def test_every_tag_is_applied_after_success(variant, tmp_path):
    engine = fake_engine()
    image = build(variant, engine, options(tmp_path), Reporter())
    assert tagged(engine) == [f"imgbuild/pytorch:{t}" for t in (
        "2.14.1-cuda13.0-cudnn9-runtime-2026-11-22", "2.14.1-cuda13.0-cudnn9-runtime", "2.14-cuda13.0-runtime")]
    assert tuple(map(str, image.refs)) == tuple(tagged(engine))
    assert str(image.ref) == "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime" and image.variant == variant


def test_the_sbom_and_provenance_are_sealed_into_the_image_before_tagging(variant, tmp_path):
    engine = fake_engine()
    image = build(variant, engine, options(tmp_path), Reporter())
    sealed = engine.build.call_args_list[1].args[0]
    # BuildKit would read "FROM sha256:abc" as a Docker Hub name: the unsealed image is named for the moment
    seal_file = (sealed / "Dockerfile").read_text()
    assert seal_file.startswith(f"FROM {SEAL_REPOSITORY}:abc\n") and "cp /tmp/imgbuild-seal/sbom.cdx.json" in seal_file
    # dated at FIXED_MTIME inside the image, the folder too: the same image gives the same sealed image; the context
    # keeps its real times (BuildKit re-sends a file only when its size or time changed)
    assert "touch -d @315532800 /opt/imgbuild /opt/imgbuild/sbom.cdx.json" in seal_file
    assert (sealed / "sbom.cdx.json").stat().st_mtime != 315532800
    assert engine.build.call_args_list[1].kwargs["network"] == "none"  # the seal needs no network
    assert [str(c.args[0]) for c in engine.untag.call_args_list] == [f"{SEAL_REPOSITORY}:abc"]
    engine.forget.assert_called_once_with("sha256:abc")  # the unsealed image left no dangling record
    sbom = json.loads((sealed / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and {c["name"] for c in sbom["components"]} == {"torch", "bash"}
    predicate = json.loads((sealed / "provenance.json").read_text())
    assert predicate["buildDefinition"]["externalParameters"]["variant"]["id"] == variant.id
    assert image.id == "sha256:sealed" and engine.build.call_args_list[1].kwargs["labels"] == {}


def test_a_failed_build_tags_nothing(variant, tmp_path):
    engine = fake_engine(fail=True)
    with pytest.raises(BuildError):
        build(variant, engine, options(tmp_path), Reporter())
    engine.tag.assert_not_called()


def test_ca_certs_land_in_the_context_as_crt(variant, tmp_path):
    cert = tmp_path / "corp.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    ctx = build_mod.prepare(variant, options(tmp_path, ca_certs=(cert,)))
    [copied] = (ctx.path / "ca-certificates").iterdir()
    assert copied.suffix == ".crt" and copied.read_text() == cert.read_text()


def test_index_choice(variant, matrix, tmp_path):
    assert variant.pypi_carries  # torch 2.14.1 on PyPI is the CUDA 13.0 build
    assert torch_index(variant, options(tmp_path)) == ""  # auto: PyPI carries this build
    assert torch_index(variant, options(tmp_path, index=Index.pytorch)) == "https://download.pytorch.org/whl/cu130"
    assert torch_index(variant, options(tmp_path, index=Index.pypi)) == ""
    other = select(matrix, Selection(torch="2.14", cuda="12.6", flavor="runtime", python="3.11"))[0]
    assert not other.pypi_carries
    assert torch_index(other, options(tmp_path)) == other.index  # auto: the PyTorch index of its CUDA
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    wheels = options(tmp_path, wheelhouse=tmp_path / "wh", index=Index.pytorch)
    assert torch_index(variant, wheels) == ""  # the wheelhouse has this torch
    assert torch_index(other, wheels) == other.index


def test_index_pypi_refuses_a_build_pypi_does_not_carry(matrix, tmp_path):
    other = select(matrix, Selection(torch="2.6", cuda="11.8", flavor="runtime"))[0]
    with pytest.raises(ConfigError, match="PyPI's torch 2.6.0 is not the cu118 build"):
        check_options([other], options(tmp_path, index=Index.pypi))
    check_options([other], options(tmp_path))  # auto takes it from the PyTorch index


def test_a_wheelhouse_needs_the_host_network(variant, tmp_path):
    with pytest.raises(ConfigError, match="use --network host"):
        check_options([variant], options(tmp_path, wheelhouse=tmp_path, network=Network.bridge))
