"""Benchmark: the offline test variant (torch 2.14.1 / CUDA 13.0 / Python 3.11, runtime) released for linux/amd64
(natively) and linux/arm64 (under qemu on this amd64 host), joined under one multi-platform tag, and pulled back
per platform by a second, empty Docker engine.

Per platform: `imgbuild release` (build without the layer cache from the committed lock, with that platform's
wheelhouse and base image; the CPU tier of the smoke suite; push to a loopback registry of its own). Then `imgbuild
join`, the index read back with skopeo, and for each platform a `docker pull --platform` of the plain dated tag from
a second dockerd and what that image says of itself (`uname -m`, torch's version, `platform.machine()`, a matmul).
Printed: seconds of build, tests and push, image size, smoke counts, pull seconds, the index. Set up first (root):

    bash scripts/setup-qemu.sh
    imgbuild base --platform linux/arm64
    imgbuild wheelhouse --variant 2.14.1-cu130-py3.11-runtime-arm64 --platform linux/arm64 --out WHEELS_ARM64
    python bench/arm64.py --wheelhouse-arm64 WHEELS_ARM64 --wheelhouse-amd64 WHEELS_AMD64
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
VARIANT = "2.14.1-cu130-py3.11-runtime"
PLAIN = "2.14.1-cuda13.0-cudnn9-runtime"
BASES = {"amd64": "local/debian:bookworm", "arm64": "local/debian:bookworm-arm64"}
PROBE = ("import platform, torch; "
         "print(platform.machine(), torch.__version__, tuple(torch.randn(64, 64).matmul(torch.randn(64, 64)).shape))")


def run(*command: str, env: dict[str, str] | None = None, timeout: int = 7200) -> tuple[subprocess.CompletedProcess[str],
                                                                                          float]:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return done, time.monotonic() - start


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["?"])[-1][:240]


def release(arch: str, registry: str, wheelhouse: Path | None, ca_cert: str, out: Path, env: dict[str, str]) -> dict:
    vid = VARIANT + ("-arm64" if arch == "arm64" else "")
    command = ["imgbuild", "release", "--variant", vid, "--platform", f"linux/{arch}", "--registry", registry,
               "--gpu", "no", "--base-image", BASES[arch], "--ca-cert", ca_cert, "--no-cache", "--rebuild",
               "--out", str(out / arch), *(["--wheelhouse", str(wheelhouse)] if wheelhouse else [])]
    done, seconds = run(*command, env=env)
    row: dict[str, object] = {"platform": f"linux/{arch}", "release_s": round(seconds), "rc": done.returncode}
    try:
        data = json.loads((out / arch / "release.json").read_text())
        [entry] = data["images"]
    except (OSError, ValueError, KeyError):
        return row | {"error": last_line(done)}
    smoke = entry.get("smoke") or {}
    row |= {"build_s": entry.get("build_seconds"), "smoke_s": smoke.get("seconds"),
            "push_s": (entry.get("push") or {}).get("seconds"), "size_gb": round((entry.get("size") or 0) / 1e9, 2),
            "smoke": " / ".join(f"{k} {v}" for k, v in (smoke.get("counts") or {}).items()),
            "digest": (entry.get("digest") or "")[:19], "joined_here": bool(data.get("indexes"))}
    if entry.get("error"):
        row["error"] = entry["error"][:240]
    return row


def second_engine(folder: Path) -> tuple[str, subprocess.Popen]:
    short = Path(f"/tmp/ib2-{secrets.token_hex(3)}")
    sock = f"unix://{short}/docker.sock"
    proc = subprocess.Popen(["dockerd", "--data-root", str(folder / "engine2"), "--exec-root", str(short), "--pidfile",
                             str(folder / "pid"), "-H", sock, "--bridge=none", "--iptables=false"],
                            stdout=(folder / "dockerd.log").open("w"), stderr=subprocess.STDOUT)
    for _ in range(60):
        if run("docker", "-H", sock, "info")[0].returncode == 0:
            return sock, proc
        time.sleep(1)
    raise SystemExit("the second dockerd did not start: " + (folder / "dockerd.log").read_text()[-800:])


def pull_and_probe(sock: str, ref: str, arch: str) -> dict:
    pulled, seconds = run("docker", "-H", sock, "pull", "-q", "--platform", f"linux/{arch}", ref)
    row: dict[str, object] = {"pull_s": round(seconds), "pull_rc": pulled.returncode}
    if pulled.returncode == 0:
        machine = run("docker", "-H", sock, "run", "--rm", "--network", "host", "--platform", f"linux/{arch}", ref,
                      "uname", "-m")[0]
        # This engine is not imgbuild's, so it lacks the emulated cpuinfo torch needs under qemu: mount it as the
        # engine does (engine/emulation.py).
        from imgbuild.engine import emulation

        extra = [a for source, spec in emulation.mounts(arch).items() for a in ("-v", f"{source}:{spec['bind']}:ro")]
        extra += [a for k, v in emulation.environment(arch).items() for a in ("-e", f"{k}={v}")]
        probe = run("docker", "-H", sock, "run", "--rm", "--network", "host", "--platform", f"linux/{arch}", *extra,
                    "--entrypoint", "/opt/venv/bin/python", ref, "-c", PROBE)[0]
        row |= {"uname -m": machine.stdout.strip(), "inside": probe.stdout.strip() or probe.stderr.strip()[-200:]}
        run("docker", "-H", sock, "rmi", "-f", ref)  # one platform's image at a time on this disk
    else:
        row["error"] = last_line(pulled)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", default="amd64,arm64")
    parser.add_argument("--wheelhouse-arm64", type=Path)
    parser.add_argument("--wheelhouse-amd64", type=Path)
    parser.add_argument("--ca-cert", default="/etc/ssl/certs/ca-certificates.crt")
    parser.add_argument("--push-only", action="store_true", help="publish the images an earlier run built and tested "
                        "today (`imgbuild push`) instead of releasing them again")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="imgbuild-bench-arm64-"))
    data_home = {"XDG_DATA_HOME": str(work / "data")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = run("imgbuild", "registry", "start", "--port", str(port), env=data_home)[0]
    assert started.returncode == 0, started.stderr
    registry = f"127.0.0.1:{port}/bench"
    env = {**data_home, "SOURCE_DATE_EPOCH": str(int(time.time()))}  # one date for both platforms
    day = time.strftime("%Y-%m-%d", time.gmtime(int(env["SOURCE_DATE_EPOCH"])))
    rows = []
    try:
        for arch in args.platforms.split(","):
            if args.push_only:
                local = f"imgbuild/pytorch:{PLAIN}{'-arm64' if arch == 'arm64' else ''}-{day}"
                pushed, seconds = run("imgbuild", "push", local, "--registry", registry, env=env)
                rows.append({"platform": f"linux/{arch}", "push_s": round(seconds), "rc": pushed.returncode,
                             **({"error": last_line(pushed)} if pushed.returncode else {})})
            else:
                rows.append(release(arch, registry, getattr(args, f"wheelhouse_{arch}"), args.ca_cert, work, env))
            print(json.dumps(rows[-1]), flush=True)
        joined, join_s = run("imgbuild", "join", "--variant", VARIANT, "--registry", registry, "--out",
                             str(work / "join"), env=env)
        print(f"join: rc {joined.returncode} in {join_s:.1f}s: {last_line(joined)}", flush=True)
        ref = f"{registry}/pytorch:{PLAIN}-{day}"
        raw = run("skopeo", "--insecure-policy", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}")[0]
        if raw.returncode == 0:
            index = json.loads(raw.stdout)
            print(f"index {ref}: {index.get('mediaType')}: " + ", ".join(
                f"{m['platform']['architecture']} {m['digest'][:19]}" for m in index.get("manifests", [])), flush=True)
        sock, proc = second_engine(work)
        try:
            for row in rows:
                row |= pull_and_probe(sock, ref, str(row["platform"]).split("/")[1])
                print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
    finally:
        run("imgbuild", "registry", "stop", env=data_home)
        shutil.rmtree(work, ignore_errors=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(title=f"{VARIANT}: linux/amd64 natively, linux/arm64 under qemu; one tag, pulled per platform")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in columns))
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
