"""Benchmark: what a nightly costs when nothing changed, and when one lock entry changed.

On a loopback registry (Distribution 2.8), `imgbuild release` of the offline test variant runs three nights, each
with its own SOURCE_DATE_EPOCH: the first builds, tests and pushes; the second (the next day, same inputs)
should build nothing and upload no layer (goal: <= 10 s, 0 layer bytes); the third changes one lock entry (tqdm
moved to another real release, with its real hash) and rebuilds. Printed per night: seconds, the registry's
storage growth, the layer bytes docker pushed, the outcome and the digest.

    python bench/nightly.py [--base local/debian:bookworm] [--wheelhouse DIR] [--ca-cert FILE]
                            [--variant 2.14.1-cu130-py3.11-runtime] [--package tqdm==4.67.1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # registry_server.py: runs the Debian registry binary on loopback

from registry_server import RegistryServer
from rich.console import Console
from rich.table import Table

FIRST_NIGHT = 1795049820  # 2026-11-19 02:17 UTC
DAY = 86400


def storage_bytes(server: RegistryServer) -> int:
    return sum(p.stat().st_size for p in (server.dir / "storage").rglob("*") if p.is_file())


def change_one_entry(lock: Path, package: str, work: Path) -> str:
    """Replace the lock's pin of NAME with NAME==VERSION and the real hash of its wheel (pip download)."""
    name, version = package.split("==")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest",
                    str(work), package], check=True, capture_output=True)
    wheel = next(work.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    text = lock.read_text()
    start = text.index(f"\n{name}==") + 1
    end = text.index("\n", text.index("--hash=", start))  # the entry's last hash line
    while text[end + 1:].startswith("    --hash="):
        end = text.index("\n", end + 1)
    old = text[start:text.index(" ", start)]
    lock.write_text(text[:start] + f"{name}=={version} \\\n    --hash=sha256:{digest}" + text[end:])
    return f"{old} -> {name}=={version}"


def night(server: RegistryServer, args, out: Path, epoch: int, env: dict[str, str]) -> dict:
    command = ["imgbuild", "release", "--variant", args.variant, "--registry", f"{server.host}/bench",
               "--gpu", "no", "--out", str(out), "--base-image", args.base, "--ca-cert", args.ca_cert,
               "--wheelhouse", args.wheelhouse]
    before = storage_bytes(server)
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch), **env})
    seconds = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"release failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    [entry] = json.loads((out / "release.json").read_text())["images"]
    return {"seconds": seconds, "stored": storage_bytes(server) - before,
            "pushed": (entry.get("push") or {}).get("bytes_pushed", 0),
            "outcome": f"unchanged since {entry['unchanged_since']}" if entry.get("unchanged_since")
            else f"built ({entry.get('rebuilt_because', '?')})", "digest": entry["digest"], "tag": entry["dated_tag"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="2.14.1-cu130-py3.11-runtime")
    parser.add_argument("--base", default=os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm"))
    parser.add_argument("--wheelhouse", default=os.environ.get("IMGBUILD_TEST_WHEELHOUSE",
                                                               "/var/cache/imgbuild-ci/wheelhouse"))
    parser.add_argument("--ca-cert", default=os.environ.get("IMGBUILD_TEST_CA_CERT",
                                                            "/etc/ssl/certs/ca-certificates.crt"))
    parser.add_argument("--package", default="tqdm==4.67.1", help="the lock entry the third night changes")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-nightly-") as tmp, \
            RegistryServer(Path(tmp) / "registry") as server:
        work = Path(tmp)
        rows.append(("1: first night", night(server, args, work / "n1", FIRST_NIGHT, {})))
        rows.append(("2: next day, same inputs", night(server, args, work / "n2", FIRST_NIGHT + DAY, {})))
        locks = work / "locks"
        shutil.copytree(ROOT / "locks", locks)
        change = change_one_entry(locks / f"{args.variant}.txt", args.package, work / "wheels")
        rows.append((f"3: one lock entry changed ({change})",
                     night(server, args, work / "n3", FIRST_NIGHT + 2 * DAY, {"IMGBUILD_LOCKS": str(locks)})))

    table = Table(title=f"imgbuild release {args.variant}, loopback registry")
    for column in ("night", "seconds", "registry growth", "layer bytes pushed", "outcome", "dated tag -> digest"):
        table.add_column(column, overflow="fold")
    for what, r in rows:
        table.add_row(what, f"{r['seconds']:.1f}", f"{r['stored'] / 1e6:.2f} MB", f"{r['pushed'] / 1e6:.1f} MB",
                      r["outcome"], f"{r['tag']} -> {r['digest'][:19]}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
