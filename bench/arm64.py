"""Benchmark: the offline test variant (torch 2.14.1 / CUDA 13.0 / Python 3.11, runtime) built and tested for
linux/arm64 under qemu on this amd64 host, next to linux/amd64 built natively.

Per platform: `imgbuild build` (no layer cache) from the committed lock with that platform's wheelhouse and base
image, then `imgbuild test --gpu no` (the CPU tier: import, services, SSH, restricted run, two DeiT steps), then
what the image says of itself (`uname -m`, torch's version and `platform.machine()`). Printed: seconds of the build
and of the tests, the image size, the smoke counts. Set up first (as root):

    bash scripts/setup-qemu.sh
    imgbuild base --platform linux/arm64
    imgbuild wheelhouse --variant 2.14.1-cu130-py3.11-runtime-arm64 --platform linux/arm64 --out WHEELS_ARM64
    python bench/arm64.py --wheelhouse-arm64 WHEELS_ARM64 [--wheelhouse-amd64 DIR] [--platforms arm64,amd64]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
VARIANT = "2.14.1-cu130-py3.11-runtime"
BASES = {"amd64": "local/debian:bookworm", "arm64": "local/debian:bookworm-arm64"}
PROBE = ("import platform, torch; "
         "print(platform.machine(), torch.__version__, tuple(torch.randn(64, 64).matmul(torch.randn(64, 64)).shape))")


def run(*command: str, timeout: int = 7200) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    return done, time.monotonic() - start


def one(arch: str, wheelhouse: Path | None, ca_cert: str) -> dict[str, object]:
    vid = VARIANT + ("-arm64" if arch == "arm64" else "")
    chosen = ["--variant", vid, "--platform", f"linux/{arch}"]
    [variant] = json.loads(run("imgbuild", "matrix", *chosen, "--json")[0].stdout)["variants"]
    ref = f"imgbuild/pytorch:{variant['tags'][1]}"
    build = ["imgbuild", "build", *chosen, "--base-image", BASES[arch], "--ca-cert", ca_cert, "--no-cache"]
    built, build_s = run(*build, *(["--wheelhouse", str(wheelhouse)] if wheelhouse else []))
    row: dict[str, object] = {"platform": f"linux/{arch}", "build_s": round(build_s), "build_rc": built.returncode}
    if built.returncode != 0:
        row["error"] = (built.stderr.strip().splitlines() or ["?"])[-1][:200]
        return row
    size = run("docker", "image", "inspect", ref, "--format", "{{.Size}} {{.Architecture}}")[0].stdout.split()
    row |= {"size_gb": round(int(size[0]) / 1e9, 2), "architecture": size[1]}
    tested, test_s = run("imgbuild", "test", ref, "--gpu", "no")
    counts = re.search(r"(\d+) passed, (\d+) failed, (\d+) skipped", tested.stdout + tested.stderr)
    row |= {"test_s": round(test_s), "test_rc": tested.returncode, "smoke": counts[0] if counts else "?"}
    probe = run("docker", "run", "--rm", "--platform", f"linux/{arch}", "--network", "host", "--entrypoint",
                "/opt/venv/bin/python", ref, "-c", PROBE)[0]
    row["inside"] = (probe.stdout.strip() or probe.stderr.strip()[-200:])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", default="arm64,amd64")
    parser.add_argument("--wheelhouse-arm64", type=Path)
    parser.add_argument("--wheelhouse-amd64", type=Path)
    parser.add_argument("--ca-cert", default="/etc/ssl/certs/ca-certificates.crt")
    args = parser.parse_args()
    rows = []
    for arch in args.platforms.split(","):
        rows.append(one(arch, getattr(args, f"wheelhouse_{arch}"), args.ca_cert))
        print(json.dumps(rows[-1]), flush=True)
    table = Table(title=f"{VARIANT}: native amd64 and emulated arm64")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in rows[0]))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
