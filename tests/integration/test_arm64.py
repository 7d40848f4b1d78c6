"""linux/arm64 on this amd64 host (docs/platforms.md): scripts/setup-qemu.sh registers the emulator, `imgbuild base
--platform linux/arm64` makes an arm64 base that runs aarch64 code in a container, an arm64 build is refused on an
amd64 base before anything is built, and an arm64 render carries its platform and its aarch64 lock. The emulated
torch build and its smoke suite take an hour here: bench/arm64.py measures them, CI does not."""

from __future__ import annotations

from helpers import ROOT, docker, imgbuild

ARM64 = "2.14.1-cu130-py3.11-runtime-arm64"


def test_the_arm64_base_is_an_arm64_image_that_runs_aarch64_code(arm64_base):
    assert docker("image", "inspect", arm64_base, "--format", "{{.Architecture}} {{.Os}}").stdout.split() == [
        "arm64", "linux"]
    ran = docker("run", "--rm", "--platform", "linux/arm64", "--network", "host", arm64_base, "sh", "-c",
                 "uname -m; dpkg --print-architecture", timeout=300)
    assert ran.returncode == 0 and ran.stdout.split() == ["aarch64", "arm64"], ran.stderr


def test_an_arm64_build_on_an_amd64_base_is_refused_before_anything_is_built(base_image):
    before = docker("images", "-q", "--filter", f"label=io.imgbuild.variant={ARM64}").stdout.split()
    result = imgbuild("build", "--variant", ARM64, "--platform", "linux/arm64", "--base-image", base_image)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert f"base image {base_image} is amd64, not arm64" in line
    assert "imgbuild base --platform linux/arm64" in line
    assert docker("images", "-q", "--filter", f"label=io.imgbuild.variant={ARM64}").stdout.split() == before


def test_an_arm64_render_carries_its_platform_and_its_aarch64_lock(tmp_path):
    result = imgbuild("render", "--variant", ARM64, "--platform", "arm64", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    context = tmp_path / ARM64
    dockerfile = (context / "Dockerfile").read_text()
    assert 'io.imgbuild.platform="linux/arm64"' in dockerfile and f'io.imgbuild.variant="{ARM64}"' in dockerfile
    locks = "".join(p.read_text() for p in (context / "lock").glob("*.txt"))
    assert "torch==2.14.1" in locks
    header = (ROOT / "locks" / f"{ARM64}.txt").read_text().splitlines()[1]
    assert '"platform": "aarch64-manylinux_2_28"' in header
