"""Benchmark: cold build, no-change rebuild, a rebuild of every layer with the download caches warm, the second flavor
after the first, and size against the floor; the seconds BuildKit spent exporting (compressing) and unpacking.

"Cold" empties BuildKit's cache first (layers and the apt/pip cache mounts) and removes the images; "every layer,
caches warm" is `--no-cache` with the cache mounts kept: what another Python or a changed lock costs.
Goals: rebuild < 5% of cold; second flavor < 60% of cold; image size <= 1.15 x (base + Python environment); cold
<= 1.3 x the floor (the lock's wheels into a venv on the host from the same wheelhouse, plus the build's apt steps).
Usage (these machines): python bench/build.py --base-image local/debian:bookworm \
    --ca-cert /etc/ssl/certs/ca-certificates.crt --wheelhouse /var/cache/imgbuild-ci/wheelhouse
--export zstd: an experiment, what the cold build costs when BuildKit stores zstd layers instead of gzip (the product
keeps gzip: its plain tags are what `docker push` sends, and Docker 20.10 cannot read zstd).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ["--torch", "2.14", "--cuda", "13.0", "--python", "3.11"]
REFS = {"runtime": "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime",
        "devel": "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-devel"}


EXPORT = re.compile(r"^#\d+ (exporting layers|unpacking to \S+) ([0-9.]+)s done$", re.MULTILINE)
STEP = re.compile(r"^(#\d+) \[[^\]]*\] RUN .*$", re.MULTILINE)


def apt_seconds(log: str) -> float:
    """The seconds of the build's apt steps (the OS packages), which the floor counts as they are."""
    total = 0.0
    for step in STEP.finditer(log):
        if "apt-get install" in step[0] and (done := re.search(rf"^{step[1]} DONE ([0-9.]+)s$", log, re.MULTILINE)):
            total += float(done[1])
    return total


def host_venv_seconds(lock: Path, wheelhouse: str) -> float:
    """The floor: the same wheels (the lock's, from the same wheelhouse) into a venv on the host, uncached."""
    with tempfile.TemporaryDirectory(prefix="imgbuild-floor-") as folder:
        venv, cache = Path(folder) / "venv", Path(folder) / "cache"
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "uv", "venv", "-q", "--python", "3.11", str(venv)], check=True)
        subprocess.run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                        "--offline", "--no-index", "--find-links", wheelhouse, "--no-deps", "--require-hashes",
                        "--cache-dir", str(cache), "-r", str(lock)], check=True)
        return time.monotonic() - start


EXPERIMENT = ("import sys, imgbuild.engine.buildkit as b; b.OUTPUT = sys.argv.pop(1); "
              "from imgbuild.cli.app import main; main()")


def timed_build(flavor: str, site: list[str], no_cache: bool = False, figures: dict | None = None,
                name: str = "", output: str | None = None) -> float:
    start = time.monotonic()
    imgbuild = [sys.executable, "-c", EXPERIMENT, output] if output else ["imgbuild"]
    command = [*imgbuild, "build", *VARIANT, "--flavor", flavor, *site] + (["--no-cache"] if no_cache else [])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-1500:]}")
    seconds = time.monotonic() - start
    log = re.search(r"\(log: ([^)]+)\)", result.stderr)
    if figures is not None and log:
        found = EXPORT.findall(Path(log[1]).read_text(errors="replace"))
        figures[f"{name}_export_s"] = sum(float(s) for what, s in found if what == "exporting layers")
        figures[f"{name}_unpack_s"] = sum(float(s) for what, s in found if what != "exporting layers")
        figures[f"{name}_apt_s"] = apt_seconds(Path(log[1]).read_text(errors="replace"))
    return seconds


def image_size(ref: str) -> int:
    """Unpacked bytes (what a container sees), whichever image store the engine keeps."""
    out = subprocess.run(["docker", "run", "--rm", "--network", "host", "--entrypoint", "du", ref, "-sxb", "/"],
                         capture_output=True, text=True)
    return int(out.stdout.split()[0])


def compressed_size(ref: str) -> int:
    """The layers' bytes as they are stored and pushed (the containerd image store keeps them compressed)."""
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", ref], capture_output=True, text=True)
    return int(out.stdout.strip())


def venv_size(ref: str) -> int:
    """The Python environment: the venv and the CUDA libraries it reads from /opt/cuda-libs."""
    out = subprocess.run(["docker", "run", "--rm", "--network", "host", "--entrypoint", "du", ref, "-scb",
                          "/opt/venv", "/opt/cuda-libs"], capture_output=True, text=True)
    return int(out.stdout.split()[-2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-image", default="local/debian:bookworm")
    parser.add_argument("--ca-cert", action="append", default=[])
    parser.add_argument("--wheelhouse")
    parser.add_argument("--skip-cold", action="store_true", help="reuse the cache (no cold figure)")
    parser.add_argument("--cold-only", action="store_true", help="the cold build and its floor alone")
    parser.add_argument("--export", choices=["gzip", "zstd"], default="gzip", help="the local image's compression")
    args = parser.parse_args()
    output = "type=image,compression=zstd,compression-level=3,force-compression=true" if args.export == "zstd" \
        else None
    site = ["--base-image", args.base_image, "--network", "host"]
    site += [x for cert in args.ca_cert for x in ("--ca-cert", cert)]
    site += ["--wheelhouse", args.wheelhouse] if args.wheelhouse else []

    figures: dict[str, float] = {}
    if not args.skip_cold:
        subprocess.run(["docker", "rmi", "-f", *REFS.values()], capture_output=True)
        subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
        figures["cold_runtime_s"] = timed_build("runtime", site, no_cache=True, figures=figures, name="cold",
                                                output=output)
        figures["cold_stored_compressed_gb"] = round(compressed_size(REFS["runtime"]) / 1e9, 2)
    if not args.cold_only:
        figures["rebuild_no_change_s"] = timed_build("runtime", site)
        figures["rebuild_every_layer_caches_warm_s"] = timed_build("runtime", site, no_cache=True, figures=figures,
                                                                   name="every_layer")
        figures["second_flavor_devel_s"] = timed_build("devel", site)
        base = image_size(args.base_image)
        for flavor, ref in REFS.items():
            size, env = image_size(ref), venv_size(ref)
            figures[f"{flavor}_size_gb"] = round(size / 1e9, 2)
            figures[f"{flavor}_stored_compressed_gb"] = round(compressed_size(ref) / 1e9, 2)
            figures[f"{flavor}_floor_gb"] = round((base + env) / 1e9, 2)
            figures[f"{flavor}_size_over_floor"] = round(size / (base + env), 3)
    lock = ROOT / "locks" / "2.14.1-cu130-py3.11-runtime.txt"
    if args.wheelhouse and "cold_apt_s" in figures:
        figures["floor_host_venv_s"] = round(host_venv_seconds(lock, args.wheelhouse), 1)
        figures["floor_s"] = round(figures["floor_host_venv_s"] + figures["cold_apt_s"], 1)
        figures["cold_over_floor"] = round(figures["cold_runtime_s"] / figures["floor_s"], 2)
    if "cold_runtime_s" in figures and not args.cold_only:
        figures["rebuild_pct_of_cold"] = round(100 * figures["rebuild_no_change_s"] / figures["cold_runtime_s"], 1)
        figures["devel_pct_of_cold"] = round(100 * figures["second_flavor_devel_s"] / figures["cold_runtime_s"], 1)
    for key, value in figures.items():
        print(f"{key:28s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
