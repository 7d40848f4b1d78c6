"""Benchmark: first pulls from a loopback registry into empty engines, beside the time to read the blobs.

For the tags given (the first, then a second that shares layers with it, e.g. another Python of one torch/CUDA):
  - reading every blob of the first tag over HTTP (the floor: no unpacking);
  - the disk's floor: every layer of the first tag read, decompressed and untarred into an empty folder beside the
    engines' data roots, one after another, then synced (what no engine can beat on this disk), gzip and zstd;
  - the modern engine (this host's dockerd, the containerd image store), empty: the first tag, then the second;
  - the same with their zstd twins (TAG-zstd), in another empty engine;
  - Docker 20.10 (Debian 12's, unpacked under /var/cache/imgbuild-ci/docker-20.10), empty: the first tag (gzip),
    and what it says of the zstd twin.
Each engine is a second dockerd on its own data root, dropped afterwards.

    python bench/pull.py --registry 127.0.0.1:5000/bench/pytorch --tag A --tag B
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import zstandard
from isal import isal_zlib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from dockerd import second_dockerd  # noqa: E402

DOCKER_2010 = "/var/cache/imgbuild-ci/docker-20.10/usr/sbin/dockerd"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def read_blobs(host: str, repository: str, tag: str) -> tuple[float, int]:
    """Seconds and bytes to GET every layer of `tag` (amd64's image where the tag is an index)."""
    base = f"http://{host}/v2/{repository}"
    manifest = requests.get(f"{base}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=60).json()
    start, total = time.monotonic(), 0
    for layer in manifest["layers"]:
        with requests.get(f"{base}/blobs/{layer['digest']}", stream=True, timeout=300) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_content(1 << 20):
                total += len(chunk)
    return time.monotonic() - start, total


def unpack_floor(host: str, repository: str, tag: str) -> float:
    """Seconds to read, decompress and untar every layer of `tag` into an empty folder, then sync."""
    base = f"http://{host}/v2/{repository}"
    manifest = requests.get(f"{base}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=60).json()
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-untar-", dir="/var/tmp") as folder:
        start = time.monotonic()
        for layer in manifest["layers"]:
            zstd = layer["mediaType"].endswith("zstd")
            unpack = zstandard.ZstdDecompressor().decompressobj() if zstd else isal_zlib.decompressobj(wbits=31)
            tar = subprocess.Popen(["tar", "-x", "--numeric-owner", "-C", folder], stdin=subprocess.PIPE)
            assert tar.stdin is not None
            with requests.get(f"{base}/blobs/{layer['digest']}", stream=True, timeout=300) as resp:
                resp.raise_for_status()
                for chunk in resp.iter_content(1 << 20):
                    tar.stdin.write(unpack.decompress(chunk))
            tar.stdin.close()
            if tar.wait() != 0:
                sys.exit(f"tar failed on {layer['digest']}")
        subprocess.run(["sync"], check=True)
        return time.monotonic() - start


def pull(sock: str, ref: str) -> tuple[float, str]:
    """Seconds of `docker pull`, and its last line (the error where it failed)."""
    start = time.monotonic()
    done = subprocess.run(["docker", "-H", sock, "pull", ref], capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    said = (done.stdout + done.stderr).strip().splitlines()
    return seconds, ("ok" if done.returncode == 0 else "FAILED: " + (said[-1] if said else "?"))


def engine_pulls(label: str, refs: list[str], dockerd: str = "dockerd", containerd_store: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-engine-", dir="/var/tmp") as folder:
        with second_dockerd(Path(folder), dockerd, containerd_store=containerd_store) as sock:
            version = subprocess.run(["docker", "-H", sock, "version", "--format", "{{.Server.Version}}"],
                                     capture_output=True, text=True).stdout.strip()
            for n, ref in enumerate(refs):
                seconds, outcome = pull(sock, ref)
                when = "empty engine" if n == 0 else "after the first"
                print(f"{label} (Docker {version}), {ref.rsplit(':', 1)[1]} ({when}): {seconds:.1f}s {outcome}",
                      flush=True)


def measure(registry: str, first: str, second: str | None) -> None:
    host, repository = registry.split("/", 1)
    seconds, total = read_blobs(host, repository, first)
    print(f"reading the blobs of {first}: {total / 1e9:.2f} GB in {seconds:.1f}s", flush=True)
    for tag in (first, f"{first}-zstd"):
        print(f"the disk's floor, {tag}: read, decompressed, untarred and synced in "
              f"{unpack_floor(host, repository, tag):.1f}s", flush=True)
    gzip = [f"{registry}:{t}" for t in (first, second) if t]
    engine_pulls("modern engine, gzip", gzip)
    engine_pulls("modern engine, zstd", [f"{ref}-zstd" for ref in gzip])
    if Path(DOCKER_2010).exists():
        engine_pulls("Debian 12's engine, gzip then zstd", [gzip[0], f"{gzip[0]}-zstd"], DOCKER_2010,
                     containerd_store=False)
    else:
        print(f"Docker 20.10: {DOCKER_2010} is not there (scripts/setup-docker.sh unpacks it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True, help="HOST:PORT/REPOSITORY of the tags (loopback, open)")
    parser.add_argument("--tag", action="append", required=True, help="the first tag, then the second (optional)")
    args = parser.parse_args()
    measure(args.registry, args.tag[0], args.tag[1] if len(args.tag) > 1 else None)


if __name__ == "__main__":
    main()
