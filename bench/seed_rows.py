"""Benchmark: the three seed rows end to end through `imgbuild release` into a loopback registry.

Rows (runtime flavor, Python 3.11 = the base image's python3): torch 2.6 / CUDA 12.4, torch 2.7 / CUDA 12.6,
torch 2.9 / CUDA 12.8. Each row builds from its committed lock (packages downloaded from PyPI during the build,
through the host's CA bundle), runs the CPU smoke tier (--gpu no) and pushes to a fresh Distribution 2.8 registry
on 127.0.0.1 (tests/registry_server.py). Printed per row: variant id, seconds of the release, its exit code, the
image size, the pushed digest, the smoke counts and the registry's storage growth. After each row the images the
release made, the build cache (`docker builder prune -af`) and the registry's storage are removed.

    python bench/seed_rows.py [--rows 2.6/12.4,2.7/12.6,2.9/12.8] [--base local/debian:bookworm]
                              [--ca-cert /etc/ssl/certs/ca-certificates.crt] [--python 3.11] [--keep-out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # registry_server.py: runs the Debian registry binary on loopback

from registry_server import RegistryServer
from rich.console import Console
from rich.table import Table

SEED_ROWS = ("2.6/12.4", "2.7/12.6", "2.9/12.8")
LABEL = "io.imgbuild.variant"


def sh(*command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=check)


def storage_bytes(server: RegistryServer) -> int:
    return sum(p.stat().st_size for p in (server.dir / "storage").rglob("*") if p.is_file())


def variant_id(torch: str, cuda: str, python: str) -> str:
    out = sh("imgbuild", "matrix", "--torch", torch, "--cuda", cuda, "--flavor", "runtime", "--python", python,
             "--json", check=True).stdout
    [variant] = json.loads(out)["variants"]
    return variant["id"]


def labelled_images(vid: str) -> set[str]:
    """Ids of the local images that carry the variant's label (the release's build and its tags)."""
    out = sh("docker", "images", "-q", "--no-trunc", "--filter", f"label={LABEL}={vid}").stdout
    return set(out.split())


def image_size(image_id: str | None) -> int | None:
    if not image_id:
        return None
    out = sh("docker", "image", "inspect", "-f", "{{.Size}}", image_id)
    return int(out.stdout) if out.returncode == 0 else None


def remove_images(ids: set[str]) -> list[str]:
    """`docker rmi` of every tag of these images, then of the ids themselves (untagged leftovers)."""
    removed = []
    for image_id in ids:
        tags = sh("docker", "image", "inspect", "-f", "{{json .RepoTags}}", image_id).stdout.strip()
        refs = json.loads(tags or "null") or []
        for ref in refs:
            if sh("docker", "rmi", ref).returncode == 0:
                removed.append(ref)
        if sh("docker", "image", "inspect", image_id).returncode == 0:
            sh("docker", "rmi", image_id)
    return removed


def release_entry(out: Path) -> dict:
    try:
        images = json.loads((out / "release.json").read_text())["images"]
    except (OSError, ValueError, KeyError):
        return {}
    return images[0] if images else {}


def failure_cause(output: str, entry: dict) -> str:
    """The step and message: release.json's error where the release got that far, else the last error line."""
    if entry.get("error"):
        return entry["error"]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    marks = ("error", "Error", "failed", "refused", "preflight", "No such", "cannot")
    hits = [line for line in lines if any(m in line for m in marks)]
    return (hits or lines or ["(no output)"])[-1]


def run_row(row: str, args: argparse.Namespace, work: Path, console: Console) -> dict:
    torch, cuda = row.split("/")
    vid = variant_id(torch, cuda, args.python)
    out = work / vid
    before_images = labelled_images(vid)
    result: dict = {"row": row, "variant": vid}
    with RegistryServer(work / f"registry-{vid}") as server:
        command = ["imgbuild", "release", "--torch", torch, "--cuda", cuda, "--flavor", "runtime",
                   "--python", args.python, "--registry", f"{server.host}/seed", "--gpu", "no",
                   "--out", str(out), "--base-image", args.base, "--ca-cert", args.ca_cert]
        console.print(f"[bold]== {row}: {vid}[/]\n   {' '.join(command)}")
        stored_before = storage_bytes(server)
        start = time.monotonic()
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        result["seconds"] = time.monotonic() - start
        result["rc"] = proc.returncode
        result["growth"] = storage_bytes(server) - stored_before
        entry = release_entry(out)
        (work / f"{vid}.log").write_text(proc.stdout)
        result["size"] = image_size(entry.get("image_id"))
        smoke = entry.get("smoke") or {}
        result["smoke"] = smoke.get("counts")
        result["smoke_seconds"] = smoke.get("seconds")
        result["build_seconds"] = entry.get("build_seconds")
        result["push"] = entry.get("push")
        digests = sh("imgbuild", "digests", "--in", str(out), "--images-only").stdout.split() if out.is_dir() else []
        result["digest"] = digests[0] if digests else None
        if proc.returncode != 0 or entry.get("status") != "ok":
            result["cause"] = failure_cause(proc.stdout, entry)
            console.print(f"[red]   release failed (exit {proc.returncode}); last 30 lines:[/]")
            console.print("\n".join(proc.stdout.splitlines()[-30:]), markup=False, highlight=False)
        if args.keep_out:
            if out.is_dir():
                shutil.copytree(out, Path(args.keep_out) / vid, dirs_exist_ok=True)
            shutil.copy(work / f"{vid}.log", Path(args.keep_out) / f"{vid}.log")
    # clean up: the images the release made, the build cache, the registry's storage
    made = labelled_images(vid) - before_images
    if entry.get("image_id") and entry["image_id"] not in before_images:
        made.add(entry["image_id"])
    result["removed"] = remove_images(made)
    sh("docker", "builder", "prune", "-af")
    shutil.rmtree(server.dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    report(console, result)
    return result


def gb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e9:.2f} GB"


def smoke_text(counts: dict | None) -> str:
    if not counts:
        return "-"
    text = f"{counts.get('passed', 0)} passed / {counts.get('failed', 0)} failed"
    return text + (f" / {counts['skipped']} skipped" if counts.get("skipped") else "")


def report(console: Console, r: dict) -> None:
    console.print(f"   {r['variant']}: {r['seconds']:.1f} s, exit {r['rc']}, size {gb(r['size'])}, "
                  f"digest {r['digest'] or '-'}, smoke {smoke_text(r['smoke'])}, registry +{gb(r['growth'])}")
    if r.get("build_seconds") is not None or r.get("push"):
        push = r.get("push") or {}
        console.print(f"   build {r.get('build_seconds')} s, smoke {r.get('smoke_seconds')} s, "
                      f"push {push.get('seconds')} s ({push.get('bytes_pushed', 0) / 1e9:.2f} GB)")
    if r.get("cause"):
        console.print(f"   [red]cause:[/] {r['cause']}", highlight=False)
    console.print(f"   removed: {', '.join(r['removed']) or 'nothing'}; build cache pruned; registry storage removed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(SEED_ROWS), help="comma-separated TORCH/CUDA, e.g. 2.6/12.4")
    parser.add_argument("--python", default="3.11", help="the base image's python3")
    parser.add_argument("--base", default=os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm"))
    parser.add_argument("--ca-cert", default=os.environ.get("IMGBUILD_TEST_CA_CERT",
                                                            "/etc/ssl/certs/ca-certificates.crt"))
    parser.add_argument("--keep-out", help="copy each release's --out folder and its output log here")
    args = parser.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    if bad := [r for r in rows if r.count("/") != 1]:
        parser.error(f"--rows takes TORCH/CUDA, not {', '.join(bad)}")

    console = Console(width=200)
    results = []
    with tempfile.TemporaryDirectory(prefix="imgbuild-bench-seed-") as tmp:
        for row in rows:
            results.append(run_row(row, args, Path(tmp), console))

    table = Table(title=f"imgbuild release, seed rows (runtime, Python {args.python}, --gpu no), loopback registry")
    for column in ("row", "variant", "seconds", "exit", "image size", "digest", "smoke", "registry growth"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r["row"], r["variant"], f"{r['seconds']:.1f}", str(r["rc"]), gb(r["size"]),
                      r["digest"] or "-", smoke_text(r["smoke"]), gb(r["growth"]))
    console.print(table)
    for r in results:
        if r.get("cause"):
            console.print(f"{r['variant']} failed: {r['cause']}", highlight=False)
    sys.exit(1 if any(r["rc"] != 0 for r in results) else 0)


if __name__ == "__main__":
    main()
