"""Benchmark: what a second variant adds to a registry that already holds the first, layer by layer.

Builds three runtime variants on one base and pushes them in turn to an empty loopback registry (Debian's
docker-registry), printing after each push the bytes the registry's storage grew by, and from the manifests which
layers (by digest) it already had:
  A  2.14.1 / CUDA 13.0 / Python 3.11   (the first)
  B  2.14.1 / CUDA 13.0 / Python 3.12   (the second Python of one torch/CUDA; goal: adds 1 GB or less)
  C  2.13.0 / CUDA 13.0 / Python 3.12   (the previous torch release on the same CUDA)
The base is a stand-in for a base that carries two Pythons (as Ubuntu 24.04 carries 3.12 beside Debian's 3.11 world):
Debian 12 plus this host's pyenv CPython 3.12 on PATH, because uv cannot download a standalone CPython here.
After each push the zstd twin of the tag is written (publish/zstd.py) and its seconds and growth printed too; with
--pull, bench/pull.py then pulls A and B (gzip and zstd) into empty engines from the same registry.
Usage (these machines): python bench/sharing.py --ca-cert /etc/ssl/certs/ca-certificates.crt \
    --wheelhouse A=/var/cache/imgbuild-ci/wheelhouse --wheelhouse B=/var/cache/imgbuild-ci/wheelhouse-py3.12 \
    --wheelhouse C=/var/cache/imgbuild-ci/wheelhouse-2.13-py3.12
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
import pull  # noqa: E402
from imgbuild.publish.zstd import push_twin  # noqa: E402
from imgbuild.registry.client import RegistryClient  # noqa: E402
from registry_server import RegistryServer  # noqa: E402

BASE = "local/debian:bookworm-py312"
VARIANTS = {"A": ("2.14", "3.11", "2.14.1"), "B": ("2.14", "3.12", "2.14.1"), "C": ("2.13", "3.12", "2.13.0")}


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} failed: {done.stderr[-2000:]}")
    return done


def stand_in_base(*pythons: Path, tag: str = BASE) -> None:
    """Debian 12 with other CPythons (pyenv's 3.12, 3.13) on PATH, at the paths their RPATHs name."""
    with tempfile.TemporaryDirectory() as folder:
        context = Path(folder)
        lines = ["FROM local/debian:bookworm"]
        for n, python in enumerate(pythons):
            version = python.name.rsplit(".", 1)[0]  # 3.12.1 -> 3.12
            run("cp", "-a", str(python), str(context / f"python{n}"))
            run("rm", "-rf", str(context / f"python{n}/lib/python{version}/test"))
            lines += [f"COPY python{n} {python}",
                      f"RUN ln -s {python}/bin/python{version} /usr/local/bin/python{version}"]
        # the image's user reads libpython there (pyenv's RPATH)
        lines.append("RUN chmod 755 /root /root/.pyenv /root/.pyenv/versions")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        run("docker", "buildx", "build", "--network", "host", "--provenance=false", "-t", tag, str(context))


def layers(ref: str) -> list[tuple[str, int]]:
    """(digest, compressed size) of each layer as the registry holds them."""
    raw = json.loads(run("skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}").stdout)
    return [(layer["digest"], layer["size"]) for layer in raw["layers"]]


def storage_bytes(registry: RegistryServer) -> int:
    storage = registry.dir / "storage"  # made by the first push
    return int(run("du", "-sb", str(storage)).stdout.split()[0]) if storage.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-cert", required=True)
    parser.add_argument("--wheelhouse", action="append", default=[], help="NAME=DIR for A, B and C")
    parser.add_argument("--python312", default="/root/.pyenv/versions/3.12.1", type=Path)
    parser.add_argument("--no-build", action="store_true", help="use the images already built")
    parser.add_argument("--pull", action="store_true", help="then measure pulls of A and B (bench/pull.py)")
    args = parser.parse_args()
    wheelhouses = dict(item.split("=", 1) for item in args.wheelhouse)
    refs = {name: f"bench/sharing:{name}" for name in VARIANTS}  # the py3.11 and py3.12 builds share a tag
    if not args.no_build:
        stand_in_base(args.python312)
        for name, (torch, python, version) in VARIANTS.items():
            start = time.monotonic()
            done = run("imgbuild", "build", "--torch", torch, "--cuda", "13.0", "--python", python, "--flavor", "runtime",
                "--base-image", BASE, "--ca-cert", args.ca_cert, "--wheelhouse", wheelhouses[name],
                "--network", "host", cwd=ROOT)
            # the tag the build printed for it: a Python other than the release's default adds -pyX.Y
            built = [line for line in done.stdout.split() if line.startswith("imgbuild/pytorch:")
                     and "cudnn9-runtime" in line and not re.search(r"\d{4}-\d{2}-\d{2}$", line)]
            run("docker", "tag", built[0], refs[name])
            print(f"built {name} (torch {version}, Python {python}) in {time.monotonic() - start:.0f}s", flush=True)
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-registry-") as folder:
        registry = RegistryServer(folder).start()
        try:
            held: set[str] = set()
            before = storage_bytes(registry)
            for name, ref in refs.items():
                remote = f"{registry.host}/bench/pytorch:{name}"
                run("docker", "tag", ref, remote)
                start = time.monotonic()
                run("docker", "push", remote)
                seconds = time.monotonic() - start
                after = storage_bytes(registry)
                mine = layers(remote)
                new = [(d, s) for d, s in mine if d not in held]
                print(f"{name}: {len(mine)} layers, {sum(s for _, s in mine) / 1e9:.2f} GB compressed; "
                      f"{len(mine) - len(new)} layers ({sum(s for d, s in mine if d in held) / 1e9:.2f} GB) already "
                      f"in the registry; the registry grew by {(after - before) / 1e9:.2f} GB (push {seconds:.0f}s)",
                      flush=True)
                held |= {d for d, _ in mine}
                before = after
                run("docker", "rmi", remote)
                client = RegistryClient(registry.host)
                twin = push_twin(client, "bench/pytorch", client.manifest_digest("bench/pytorch", name) or "", [name])
                after = storage_bytes(registry)
                print(f"{name}-zstd: {twin.layers_converted} layers recompressed in {twin.seconds:.0f}s; the registry "
                      f"grew by {(after - before) / 1e9:.2f} GB", flush=True)
                before = after
            if args.pull:
                pull.measure(f"{registry.host}/bench/pytorch", "A", "B")
        finally:
            registry.stop()


if __name__ == "__main__":
    main()
