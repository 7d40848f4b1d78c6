"""Benchmark: the second variant of a night on an empty engine, with and without a warm registry build cache.

A nightly's jobs run on runners that start empty. With `--cache-registry`, the first job exports every step of its
build to a registry; a later job imports them and builds only what is its own. Measured here, on one base (the
stand-in with a second Python of bench/sharing.py):
  1. A (2.14.1 / CUDA 13.0 / Python 3.11) on an empty engine, exporting to the registry cache;
  2. the engine emptied (images, build cache, cache mounts): B (the same release, Python 3.12) without the cache;
  3. the engine emptied again: B importing the registry cache that A left.
A step's cache key holds its build arguments and the files it reads, so B takes A's CUDA layers only where their
locks pin those wheels with the same lines (locks made from one index; the default pair, 2.13.0 on Python 3.12 and
3.13, has committed locks made so).
Usage (these machines): python bench/cache.py --ca-cert /etc/ssl/certs/ca-certificates.crt \
    --wheelhouse A=/var/cache/imgbuild-ci/wheelhouse-2.13-py3.12 --wheelhouse B=/var/cache/imgbuild-ci/wheelhouse-py3.13
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from registry_server import RegistryServer  # noqa: E402
from sharing import run, stand_in_base  # noqa: E402

BASE = "local/debian:bookworm-py312-py313"


def empty_engine() -> None:
    images = run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    mine = [i for i in images if i.startswith(("imgbuild/", "imgbuild-unsealed"))]
    if mine:
        run("docker", "rmi", "-f", *mine)
    run("docker", "builder", "prune", "-af")


def timed_build(torch: str, python: str, wheelhouse: str, ca_cert: str, cache: str | None) -> tuple[float, int]:
    """Seconds, and the steps BuildKit took from its cache (CACHED), of one build."""
    start = time.monotonic()
    done = run("imgbuild", "build", "--torch", torch, "--cuda", "13.0", "--python", python, "--flavor",
               "runtime", "--base-image", BASE, "--ca-cert", ca_cert, "--wheelhouse", wheelhouse, "--network", "host",
               *(["--cache-registry", cache] if cache else []), cwd=ROOT)
    seconds = time.monotonic() - start
    log = re.search(r"\(log: ([^)]+)\)", done.stderr)
    cached = len(re.findall(r"^#\d+ CACHED$", Path(log[1]).read_text(), re.MULTILINE)) if log else -1
    return seconds, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--wheelhouse", action="append", default=[], help="NAME=DIR for A and B")
    parser.add_argument("--torch", default="2.13")
    parser.add_argument("--python", nargs=2, default=["3.12", "3.13"], help="A's and B's")
    parser.add_argument("--pyenv", default="/root/.pyenv/versions", type=Path, help="where the base's CPythons are")
    args = parser.parse_args()
    wheelhouses = dict(item.split("=", 1) for item in args.wheelhouse)
    pythons = dict(zip("AB", args.python, strict=True))
    if run("docker", "images", "-q", BASE).stdout.strip() == "":
        stand_in_base(*(max(args.pyenv.glob(f"{v}.*")) for v in args.python), tag=BASE)
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-cache-") as folder:
        registry = RegistryServer(folder).start()
        cache = f"{registry.host}/ci/cache"
        try:
            empty_engine()
            seconds, _ = timed_build(args.torch, pythons["A"], wheelhouses["A"], args.ca_cert, cache)
            print(f"A on an empty engine, exporting the cache: {seconds:.0f}s", flush=True)
            empty_engine()
            seconds, cached = timed_build(args.torch, pythons["B"], wheelhouses["B"], args.ca_cert, None)
            print(f"B on an empty engine, no registry cache: {seconds:.0f}s ({cached} steps cached)", flush=True)
            empty_engine()
            seconds, cached = timed_build(args.torch, pythons["B"], wheelhouses["B"], args.ca_cert, cache)
            print(f"B on an empty engine, the registry cache A left: {seconds:.0f}s ({cached} steps cached)",
                  flush=True)
            used = run("du", "-sb", str(Path(folder) / "storage")).stdout.split()[0]
            print(f"registry cache: {int(used) / 1e9:.2f} GB", flush=True)
        finally:
            registry.stop()
            subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)


if __name__ == "__main__":
    main()
