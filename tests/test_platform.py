"""Platforms (docs/platforms.md): linux/amd64 ids, tags and locks are what they were; linux/arm64 variants carry a
suffix, are selected with --platform, lock for aarch64 and refuse a base image of another architecture."""

import dataclasses
import datetime as dt
import os
import re
from pathlib import Path
from unittest.mock import create_autospec

import pytest
from helpers import ROOT
from imgbuild.core import tags
from imgbuild.core.errors import ConfigError, NothingSelected
from imgbuild.core.platform import parse_platform
from imgbuild.engine.daemon import Engine
from imgbuild.engine.values import ImageInfo
from imgbuild.host.preflight import check_base_images
from imgbuild.lock.lockfile import lock_command, lock_inputs, lock_problem
from imgbuild.lock.wheelhouse import torch_wheel
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select
from test_matrix_errors import load_text, sub

DATE = dt.date(2026, 12, 4)


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(ROOT / "matrix.yaml")


def pick(matrix, **options):
    return select(matrix, Selection(**options))


def test_amd64_ids_and_tags_are_unchanged_and_arm64_has_its_own(matrix):
    amd, arm = pick(matrix, torch="2.14", cuda="13.0", flavor="runtime", platform="all")
    assert (amd.platform, arm.platform) == ("linux/amd64", "linux/arm64")
    assert amd.id == "2.14.1-cu130-py3.11-runtime" and arm.id == "2.14.1-cu130-py3.11-runtime-arm64"
    assert tags.tags(amd, DATE) == ["2.14.1-cuda13.0-cudnn9-runtime-2026-12-04", "2.14.1-cuda13.0-cudnn9-runtime",
                                    "2.14-cuda13.0-runtime"]
    assert tags.tags(arm, DATE) == ["2.14.1-cuda13.0-cudnn9-runtime-arm64-2026-12-04",
                                    "2.14.1-cuda13.0-cudnn9-runtime-arm64", "2.14-cuda13.0-runtime-arm64"]
    assert tags.is_dated(tags.dated_tag(arm, DATE))
    assert tags.variant_labels(arm)["io.imgbuild.platform"] == "linux/arm64"
    newest = pick(matrix, torch="2.15", platform="linux/arm64", flavor="runtime")[0]
    assert "latest-arm64" in tags.tags(newest, DATE) and "latest" not in tags.tags(newest, DATE)


def test_no_platform_means_amd64_and_all_means_both(matrix):
    whole = matrix.expand()
    assert whole and {v.platform for v in whole} == {"linux/amd64"}
    assert pick(matrix, torch="2.14", cuda="13.0") == pick(matrix, torch="2.14", cuda="13.0", platform="amd64")
    arm = pick(matrix, platform="aarch64")
    assert arm and all(v.id.endswith("-arm64") and v.platform == "linux/arm64" for v in arm)
    assert len(pick(matrix, platform="all")) == len(whole) + len(arm)
    # an amd64 pattern keeps selecting what it selected: arm64 ids come only with --platform
    assert all(v.platform == "linux/amd64" for v in pick(matrix, variant=("2.14.1-cu130-*",)))


def test_a_release_without_an_arm64_build_says_which_have_one(matrix):
    with pytest.raises(NothingSelected, match=r"no linux/arm64 build; its builds are .*torch 2\.14\.1 \(13\.0\)"):
        pick(matrix, torch="2.6", platform="linux/arm64")
    with pytest.raises(ConfigError, match="--platform 'sparc' is not a platform: use linux/amd64, linux/arm64"):
        Selection(platform="sparc")
    assert parse_platform("ARM64") == parse_platform("linux/arm64") == "linux/arm64"


def test_the_matrix_refuses_a_platform_build_the_release_does_not_have(tmp_path):
    bad = sub('      "12.4": {cudnn: "9.1.0.70"}\n', '      "12.4": {cudnn: "9.1.0.70"}\n    platforms:\n'
                                                    '      linux/arm64: ["12.8"]\n')
    with pytest.raises(ConfigError, match=r"matrix\.yaml:\d+: linux/arm64 build 12\.8 is not one of torch 2\.6\.0's"):
        load_text(tmp_path, bad)
    with pytest.raises(ConfigError, match="unknown key|linux/s390x"):
        load_text(tmp_path, bad.replace("linux/arm64", "linux/s390x"))
    good = load_text(tmp_path, bad.replace('["12.8"]', '["12.4", "cpu"]'))
    assert [v.id for v in good.expand(("linux/arm64",))] == [
        "2.6.0-cu124-py3.12-runtime-arm64", "2.6.0-cu124-py3.12-devel-arm64", "2.6.0-cpu-py3.12-runtime-arm64"]


def test_locks_resolve_per_platform_and_every_arm64_variant_is_locked(matrix):
    amd, arm = pick(matrix, torch="2.14", cuda="13.0", flavor="runtime", platform="all", python="3.12")
    assert lock_inputs(amd).platform == "x86_64-manylinux_2_28"
    assert lock_inputs(arm).platform == "aarch64-manylinux_2_28"
    assert lock_inputs(amd).digest != lock_inputs(arm).digest
    assert lock_command(arm) == ("imgbuild lock --variant 2.14.1-cu130-py3.12-runtime-arm64 --python 3.12 "
                                 "--platform linux/arm64")
    arm64 = pick(matrix, platform="linux/arm64")
    problems = [problem for v in arm64 if (problem := lock_problem(v))]
    assert len(arm64) >= 20 and problems == []
    torch = re.compile(r"^torch==([0-9.]+) ", re.MULTILINE)
    runtime = re.compile(r"^nvidia-cuda-runtime(?:-cu1[0-9])?==([0-9.]+) ", re.MULTILINE)
    for variant in arm64:
        text = (ROOT / "locks" / f"{variant.id}.txt").read_text()
        assert torch.search(text)[1] == variant.torch and "aarch64" not in text.splitlines()[0]
        # the matrix's platform fact, read back from what uv resolved for aarch64: the wheel is that CUDA build
        assert runtime.search(text)[1].startswith(variant.cuda + "."), variant.id


def test_preflight_refuses_a_base_image_of_another_architecture(matrix):
    engine = create_autospec(Engine, instance=True)
    engine.image.return_value = ImageInfo(id="sha256:1", tags=("local/debian:bookworm",), digests=(),
                                          architecture="amd64")
    assert check_base_images(engine, [("local/debian:bookworm", "linux/amd64")]) == []
    with pytest.raises(ConfigError, match=r"is amd64, not arm64, so it cannot start a linux/arm64 build: .*"
                                          r"`imgbuild base --platform linux/arm64`"):
        check_base_images(engine, [("local/debian:bookworm", "linux/arm64")])
    engine.image.return_value = dataclasses.replace(engine.image.return_value, architecture="arm64")
    assert check_base_images(engine, [("local/debian:bookworm-arm64", "linux/arm64")]) == []
    with pytest.raises(ConfigError, match="is arm64, not amd64, so it cannot start a linux/amd64 build"):
        check_base_images(engine, [("local/debian:bookworm-arm64", "linux/amd64")])
    engine.pull.assert_not_called()


def test_a_wheelhouse_gives_each_platform_its_own_torch_wheel(matrix, tmp_path):
    amd, arm = pick(matrix, torch="2.14", cuda="13.0", flavor="runtime", platform="all")
    for machine in ("x86_64", "aarch64"):
        (tmp_path / f"torch-2.14.1-cp311-cp311-manylinux_2_28_{machine}.whl").write_bytes(b"")
    assert torch_wheel(tmp_path, amd).name.endswith("_x86_64.whl")
    assert torch_wheel(tmp_path, arm).name.endswith("_aarch64.whl")
    assert torch_wheel(Path(tmp_path / "none"), arm) is None


def test_an_emulated_arm64_container_gets_an_aarch64_cpuinfo_and_a_native_one_nothing(tmp_path, monkeypatch):
    from imgbuild.engine import emulation

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    [(source, target)] = emulation.mounts("arm64", "x86_64").items()
    assert target == {"bind": "/proc/cpuinfo", "mode": "ro"}
    text = Path(source).read_text()
    assert text.count("processor\t:") == (os.cpu_count() or 1) and "CPU implementer\t: 0x41" in text
    assert emulation.mounts("arm64", "aarch64") == {} and emulation.mounts("amd64", "x86_64") == {}
    assert emulation.mounts("", "x86_64") == {}  # an image that states no architecture runs as it is
    assert emulation.environment("arm64", "x86_64") == {"QEMU_CPU": "neoverse-n1"}  # no SVE: as the cpuinfo says
    assert emulation.environment("arm64", "aarch64") == {} == emulation.environment("amd64", "x86_64")
