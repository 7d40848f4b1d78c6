"""Benchmark: the second variant of a night on an empty engine, with and without a warm registry build cache.

A nightly's jobs run on runners that start empty. With `--cache-registry`, the first job exports every step of its
build to a registry; a later job imports them and builds only what is its own. Measured here, on one base (the
stand-in with a second Python of bench/sharing.py):
  1. A (2.14.1 / CUDA 13.0 / Python 3.11) on an empty engine, exporting to the registry cache;
  2. the engine emptied (images, build cache, cache mounts): B (the same release, Python 3.12) without the cache;
  3. the engine emptied again: B importing the registry cache that A left.
Usage (these machines): python bench/cache.py --ca-cert /etc/ssl/certs/ca-certificates.crt \
    --wheelhouse A=/var/cache/imgbuild-ci/wheelhouse --wheelhouse B=/var/cache/imgbuild-ci/wheelhouse-py3.12
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
from sharing import BASE, run, stand_in_base  # noqa: E402

PYTHONS = {"A": "3.11", "B": "3.12"}


def empty_engine() -> None:
    images = run("docker", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    mine = [i for i in images if i.startswith(("imgbuild/", "imgbuild-unsealed"))]
    if mine:
        run("docker", "rmi", "-f", *mine)
    run("docker", "builder", "prune", "-af")


def timed_build(name: str, wheelhouse: str, ca_cert: str, cache: str | None) -> tuple[float, int]:
    """Seconds, and the steps BuildKit took from its cache (CACHED), of one build."""
    start = time.monotonic()
    done = run("imgbuild", "build", "--torch", "2.14", "--cuda", "13.0", "--python", PYTHONS[name], "--flavor",
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
    parser.add_argument("--python312", default="/root/.pyenv/versions/3.12.1", type=Path)
    args = parser.parse_args()
    wheelhouses = dict(item.split("=", 1) for item in args.wheelhouse)
    if run("docker", "images", "-q", BASE).stdout.strip() == "":
        stand_in_base(args.python312)
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-cache-") as folder:
        registry = RegistryServer(folder).start()
        cache = f"{registry.host}/ci/cache"
        try:
            empty_engine()
            seconds, _ = timed_build("A", wheelhouses["A"], args.ca_cert, cache)
            print(f"A on an empty engine, exporting the cache: {seconds:.0f}s", flush=True)
            empty_engine()
            seconds, cached = timed_build("B", wheelhouses["B"], args.ca_cert, None)
            print(f"B on an empty engine, no registry cache: {seconds:.0f}s ({cached} steps cached)", flush=True)
            empty_engine()
            seconds, cached = timed_build("B", wheelhouses["B"], args.ca_cert, cache)
            print(f"B on an empty engine, the registry cache A left: {seconds:.0f}s ({cached} steps cached)",
                  flush=True)
            used = run("du", "-sb", str(Path(folder) / "storage")).stdout.split()[0]
            print(f"registry cache: {int(used) / 1e9:.2f} GB", flush=True)
        finally:
            registry.stop()
            subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)


if __name__ == "__main__":
    main()
