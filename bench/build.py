"""Benchmark: cold build, no-change rebuild, a rebuild of every layer with the download caches warm, the second flavor
after the first, and size against the floor; the seconds BuildKit spent exporting (compressing) and unpacking.

"Cold" empties BuildKit's cache first (layers and the apt/pip cache mounts) and removes the images; "every layer,
caches warm" is `--no-cache` with the cache mounts kept: what another Python or a changed lock costs.
Goals: rebuild < 5% of cold; second flavor < 60% of cold; image size <= 1.15 x (base + Python environment).
Usage (these machines): python bench/build.py --base-image local/debian:bookworm \
    --ca-cert /etc/ssl/certs/ca-certificates.crt --wheelhouse /var/cache/imgbuild-ci/wheelhouse
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ["--torch", "2.14", "--cuda", "13.0", "--python", "3.11"]
REFS = {"runtime": "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-runtime",
        "devel": "imgbuild/pytorch:2.14.1-cuda13.0-cudnn9-devel"}


EXPORT = re.compile(r"^#\d+ (exporting layers|unpacking to \S+) ([0-9.]+)s done$", re.MULTILINE)


def timed_build(flavor: str, site: list[str], no_cache: bool = False, figures: dict | None = None,
                name: str = "") -> float:
    start = time.monotonic()
    command = ["imgbuild", "build", *VARIANT, "--flavor", flavor, *site] + (["--no-cache"] if no_cache else [])
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"build failed: {result.stderr[-1500:]}")
    seconds = time.monotonic() - start
    log = re.search(r"\(log: ([^)]+)\)", result.stderr)
    if figures is not None and log:
        found = EXPORT.findall(Path(log[1]).read_text(errors="replace"))
        figures[f"{name}_export_s"] = sum(float(s) for what, s in found if what == "exporting layers")
        figures[f"{name}_unpack_s"] = sum(float(s) for what, s in found if what != "exporting layers")
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
    out = subprocess.run(["docker", "run", "--rm", "--network", "host", "--entrypoint", "du", ref, "-sb", "/opt/venv"],
                         capture_output=True, text=True)
    return int(out.stdout.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-image", default="local/debian:bookworm")
    parser.add_argument("--ca-cert", action="append", default=[])
    parser.add_argument("--wheelhouse")
    parser.add_argument("--skip-cold", action="store_true", help="reuse the cache (no cold figure)")
    args = parser.parse_args()
    site = ["--base-image", args.base_image, "--network", "host"]
    site += [x for cert in args.ca_cert for x in ("--ca-cert", cert)]
    site += ["--wheelhouse", args.wheelhouse] if args.wheelhouse else []

    figures: dict[str, float] = {}
    if not args.skip_cold:
        subprocess.run(["docker", "rmi", "-f", *REFS.values()], capture_output=True)
        subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
        figures["cold_runtime_s"] = timed_build("runtime", site, no_cache=True, figures=figures, name="cold")
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
    if "cold_runtime_s" in figures:
        figures["rebuild_pct_of_cold"] = round(100 * figures["rebuild_no_change_s"] / figures["cold_runtime_s"], 1)
        figures["devel_pct_of_cold"] = round(100 * figures["second_flavor_devel_s"] / figures["cold_runtime_s"], 1)
    for key, value in figures.items():
        print(f"{key:28s} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
