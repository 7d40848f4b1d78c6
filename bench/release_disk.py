"""Benchmark: the peak disk use of one `imgbuild release` (build, test, push) per flavor on a runner-sized disk.

A GitHub-hosted runner has a 14 GB SSD. Here a sparse file of --size GB is formatted ext4 (no reserved blocks),
loop-mounted, and a second dockerd (the main one is left alone) keeps its data root there; the base image is loaded
into it and a loopback registry (tests/registry_server.py) receives the push. Each flavor's release runs alone
(images and build cache removed in between) while a thread samples the filesystem's used bytes every 0.5 s and
keeps the peak and the release step it fell in (for a build step: its RUN still running, or its layer being
committed). Printed per flavor: exit code, seconds, peak above the baseline (base image loaded), absolute peak,
free at peak, what the release left and what `docker builder prune` freed of it, the image size. Everything is
removed at the end. Run as root. Where the preflight refuses a flavor on 14 GB, measure it on a larger disk
(`--size 26 --flavors devel`).

    python bench/release_disk.py [--size 14] [--flavors runtime,devel] [--variant 2.14.1-cu130-py3.11-{flavor}]
                                 [--base local/debian:bookworm] [--wheelhouse DIR] [--ca-cert FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # registry_server.py: runs the Debian registry binary on loopback

from registry_server import RegistryServer
from rich.console import Console
from rich.table import Table

RUN_DIR = Path("/run/imgbuild-bench")
SOCKET = f"unix://{RUN_DIR}/docker.sock"
GB = 10**9
STEP = re.compile(r"step (\d+)/(\d+): (.*)")


def sh(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def bench_docker(*args: str) -> str:
    return sh("docker", "-H", SOCKET, *args).stdout.strip()


def usage(path: Path) -> tuple[int, int, int]:
    """(size, used, free) in bytes of the filesystem at `path`; free is what a process may still write."""
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize


def unmount_under(path: Path) -> None:
    """Unmount what is mounted below `path` (dockerd's overlays, its bind mount, its netns), deepest first."""
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(f"{path}/")), reverse=True):
        subprocess.run(["umount", point], capture_output=True)


@contextlib.contextmanager
def loop_filesystem(work: Path, size_gb: float):
    image, mnt = work / "disk.img", work / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(int(size_gb * GB))  # sparse: takes host disk only as the bench daemon writes
    sh("mkfs.ext4", "-q", "-m", "0", str(image))
    sh("mount", "-o", "loop", str(image), str(mnt))
    try:
        yield mnt
    finally:
        for _ in range(10):
            unmount_under(mnt)
            subprocess.run(["umount", str(mnt)], capture_output=True)
            if not os.path.ismount(mnt):
                break
            time.sleep(1)
        else:
            print(f"warning: {mnt} is still mounted (umount {mnt}; then rm {image})", file=sys.stderr)
            return
        image.unlink()


@contextlib.contextmanager
def bench_daemon(mnt: Path, log_path: Path):
    """A second dockerd with its data root on `mnt`, host networking only (as scripts/setup-docker.sh starts one)."""
    pidfile = RUN_DIR / "docker.pid"
    if pidfile.exists():
        sys.exit(f"{pidfile} exists: another bench daemon may be running")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    command = ["dockerd", "--data-root", str(mnt / "docker"), "--exec-root", str(RUN_DIR / "exec"),
               "--pidfile", str(pidfile), "-H", SOCKET, "--storage-driver", "overlay2",
               "--bridge=none", "--iptables=false", "--ip6tables=false"]
    with open(log_path, "wb") as log:
        daemon = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            if daemon.poll() is not None:
                raise RuntimeError(f"bench dockerd exited ({daemon.returncode}):\n{log_path.read_text()[-2000:]}")
            if subprocess.run(["docker", "-H", SOCKET, "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"bench dockerd did not answer in 60 s:\n{log_path.read_text()[-2000:]}")
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=90)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        unmount_under(RUN_DIR)  # the netns file dockerd leaves mounted under its exec root
        shutil.rmtree(RUN_DIR, ignore_errors=True)


class Sampler(threading.Thread):
    """Samples the used bytes of `mnt` every `interval` s; keeps the peak, its phase and each phase's highest."""

    def __init__(self, mnt: Path, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.mnt, self.interval, self.stop = mnt, interval, threading.Event()
        self.phase, self.build_log = "preflight", None
        self.peak, self.free_at_peak, self.peak_phase = 0, 0, ""
        self.by_phase: dict[str, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            _, used, free = usage(self.mnt)
            phase = self.phase
            if phase.startswith("build step") and ": RUN " in phase:  # its container still runs, or was committed
                running = subprocess.run(["docker", "-H", SOCKET, "ps", "-q"], capture_output=True, text=True)
                phase += " (RUN running)" if running.stdout.strip() else " (layer commit)"
            self.by_phase[phase] = max(used, self.by_phase.get(phase, 0))
            if used > self.peak:
                self.peak, self.free_at_peak, self.peak_phase = used, free, phase
            self.stop.wait(self.interval)

    def see(self, line: str) -> None:
        """Follow the release's printed steps (CI style output: one line per build step)."""
        if m := re.search(r"^building \S+ \(log: (.*)\)$", line):
            self.phase, self.build_log = "build: before the first step", m[1]
        elif m := STEP.search(line):
            last = m[1] == m[2]
            self.phase = f"build step {m[1]}/{m[2]}: {m[3][:45]}" + (" (+ SBOM, seal)" if last else "")
        elif line.startswith("built "):
            self.phase = "smoke test"
        elif line.startswith("pushing "):
            self.phase = "push"
        elif line.startswith("pushed "):
            self.phase = "after push"


def release(args, flavor: str, mnt: Path, registry: RegistryServer, out: Path) -> dict:
    variant = args.variant.format(flavor=flavor)
    command = ["imgbuild", "release", "--variant", variant, "--registry", f"{registry.host}/bench", "--gpu", "no",
               "--out", str(out), "--base-image", args.base, "--wheelhouse", args.wheelhouse]
    if args.ca_cert:
        command += ["--ca-cert", args.ca_cert]
    print(f"\n== {flavor}: DOCKER_HOST={SOCKET} {' '.join(command)}", flush=True)
    _, baseline, _ = usage(mnt)
    sampler, lines, enospc = Sampler(mnt), [], []
    sampler.start()
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "DOCKER_HOST": SOCKET, "CI": "1"})
    try:
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            print(f"   {line[:140]}", flush=True)
            sampler.see(line.strip())
            if "no space left on device" in line.lower():
                enospc.append(f"[{sampler.phase}] {line.strip()[:200]}")
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sampler.stop.set()
        sampler.join()
    seconds = time.monotonic() - start
    if sampler.build_log and Path(sampler.build_log).exists():  # a layer that failed to commit shows only there
        enospc += [f"[build log] {ln.strip()[:200]}" for ln in Path(sampler.build_log).read_text(errors="replace")
                   .splitlines() if "no space left on device" in ln.lower()]
    _, after, _ = usage(mnt)
    bench_docker("builder", "prune", "-af")
    _, after_prune, _ = usage(mnt)
    size = None
    with contextlib.suppress(OSError, ValueError, KeyError):
        size = json.loads((out / "release.json").read_text())["images"][0].get("size")
    return {"flavor": flavor, "rc": rc, "seconds": seconds, "baseline": baseline, "peak": sampler.peak,
            "free": sampler.free_at_peak, "phase": sampler.peak_phase,
            "phases": sorted(sampler.by_phase.items(), key=lambda kv: -kv[1])[:5], "left": after - baseline,
            "pruned": after - after_prune, "size": size, "tail": lines[-15:] if rc else [],
            "preflight": next((ln for ln in lines if "preflight:" in ln), ""), "enospc": enospc[:5]}


def reset(base: str) -> None:
    """Every image but the base, every container and all build cache gone: the next flavor is measured alone."""
    for container in bench_docker("ps", "-aq").split():
        bench_docker("rm", "-f", container)
    tags = set(bench_docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()) - {base}
    if tags := [t for t in tags if "<none>" not in t]:
        bench_docker("rmi", "-f", *tags)  # untagged parents (the classic builder's steps) go with them
    bench_docker("system", "prune", "-f", "--volumes")
    bench_docker("builder", "prune", "-af")


def report(results: list[dict], fs_size: int, size_gb: float) -> None:
    table = Table(title=f"imgbuild release, Docker data root on a {size_gb:g} GB ext4 filesystem "
                        f"({fs_size / GB:.2f} GB usable)")
    for column in ("flavor", "exit", "seconds", "peak above baseline", "absolute peak", "free at peak",
                   "peak during", "left after release", "builder prune freed", "image size"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r["flavor"], str(r["rc"]), f"{r['seconds']:.0f}", f"{(r['peak'] - r['baseline']) / GB:.2f} GB",
                      f"{r['peak'] / GB:.2f} GB", f"{r['free'] / GB:.2f} GB", r["phase"], f"{r['left'] / GB:.2f} GB",
                      f"{r['pruned'] / GB:.2f} GB", f"{r['size'] / GB:.2f} GB" if r["size"] else "-")
    console = Console(width=220)
    console.print(table)
    for r in results:
        print(f"{r['flavor']}: baseline {r['baseline'] / GB:.2f} GB used (base image loaded); highest per phase:")
        for phase, used in r["phases"]:
            print(f"    max {(used - r['baseline']) / GB:6.2f} GB above baseline during {phase}")
        if r["preflight"]:
            print(f"    REFUSED: {r['preflight'].strip()}")
        for line in r["enospc"]:
            print(f"    ENOSPC {line}")
        if r["tail"]:
            print("    last lines:\n" + "\n".join(f"      {ln}" for ln in r["tail"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=14, help="filesystem size in GB (10^9 bytes)")
    parser.add_argument("--flavors", default="runtime,devel", help="comma-separated, measured in this order")
    parser.add_argument("--variant", default="2.14.1-cu130-py3.11-{flavor}")
    parser.add_argument("--base", default=os.environ.get("IMGBUILD_TEST_BASE_IMAGE", "local/debian:bookworm"))
    parser.add_argument("--wheelhouse", default=os.environ.get("IMGBUILD_TEST_WHEELHOUSE",
                                                               "/var/cache/imgbuild-ci/wheelhouse"))
    parser.add_argument("--ca-cert", default=os.environ.get("IMGBUILD_TEST_CA_CERT",
                                                            "/etc/ssl/certs/ca-certificates.crt"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the bench mounts a filesystem and starts a dockerd")

    results = []
    work = Path(tempfile.mkdtemp(prefix="imgbuild-bench-disk-"))
    try:
        with loop_filesystem(work, args.size) as mnt, bench_daemon(mnt, work / "dockerd.log"), \
                RegistryServer(work / "registry") as registry:
            fs_size, used, free = usage(mnt)
            print(f"filesystem {mnt}: {fs_size / GB:.2f} GB, {used / GB:.2f} GB used, {free / GB:.2f} GB free "
                  f"(empty daemon)", flush=True)
            saver = subprocess.Popen(["docker", "save", args.base], stdout=subprocess.PIPE)
            subprocess.run(["docker", "-H", SOCKET, "load", "-q"], stdin=saver.stdout, check=True,
                           capture_output=True)
            saver.stdout.close()
            if saver.wait() != 0:
                raise RuntimeError(f"docker save {args.base} failed")
            _, used, free = usage(mnt)
            print(f"base image {args.base} loaded: {used / GB:.2f} GB used, {free / GB:.2f} GB free", flush=True)
            for i, flavor in enumerate(f.strip() for f in args.flavors.split(",") if f.strip()):
                if i:
                    reset(args.base)
                results.append(release(args, flavor, mnt, registry, work / f"out-{flavor}"))
        report(results, fs_size, args.size)
    finally:
        if not os.path.ismount(work / "mnt"):  # else loop_filesystem said what to unmount by hand
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
