"""Builds through BuildKit: `docker buildx build` against the engine's own BuildKit (Docker 25 and newer), whose
plain progress is read for the step being run and for the lines that say why a step failed. The Docker SDK speaks
only the classic builder's API, so BuildKit is reached through the CLI, as repo2docker does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core.errors import BuildError, DaemonError
from .boundary import failed_step

# "#7 [ 3/12] RUN ...", "#9 [stage-1 2/4] COPY ..." (a step), "#7 12.34 text" (its output), "#7 ERROR: ..." (its end)
_STEP = re.compile(r"^#(\d+) \[(?:[\w.-]+ )?\s*(\d+)/(\d+)\] (.*)$")
_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ (.*)$")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
# Into the engine's image store. The containerd image store keeps layers compressed as they are built (and pushes
# them as they are): gzip at level 1 compresses the test image's 6.7 GB in 57 s instead of 179 s at the default
# level, for 6 % more bytes (bench/build.py); every client pulls gzip. The classic store ignores the options.
# No rewrite-timestamp: the engine's BuildKit cannot with an image store that unpacks (moby/buildkit#4230); the
# Dockerfile's steps date their own files instead (render/dockerfile.py, FIXED_MTIME).
OUTPUT = "type=image,compression=gzip,compression-level=1,force-compression=true"
# A builder of its own (docker-container, kubernetes, remote) keeps its images: they are loaded into the engine.
LOAD = "type=docker"
NO_BUILDX = ("the docker CLI's buildx plugin is missing, and BuildKit builds through it: install docker-buildx "
             "(Debian, Ubuntu) or docker-buildx-plugin (Docker's apt repository), or run scripts/setup-docker.sh")
NO_CACHE_EXPORT = ("--cache-registry: this engine's own BuildKit exports a build cache only with the containerd image "
                   "store; turn it on (docs/engine.md) or build on a docker-container builder (docker buildx create "
                   "--name imgbuild --driver docker-container; --builder imgbuild)")


def buildx_version(host: str | None) -> str | None:
    """`docker buildx version`'s version, or None where the CLI or its plugin is missing."""
    if not shutil.which("docker"):
        return None
    try:
        done = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, timeout=30,
                              env=_env(host), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[1] if done.returncode == 0 and len(words) > 1 else None


@dataclass(frozen=True)
class Cache:
    """BuildKit's build cache in a registry, shared by every runner: imported from each of `sources`, exported
    (every step, mode=max) to each of `targets`. A cache that cannot be read or written costs speed, never the build."""

    sources: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()

    def flags(self) -> list[str]:
        return ([f"--cache-from=type=registry,ref={ref}" for ref in self.sources]
                + [f"--cache-to=type=registry,ref={ref},mode=max,ignore-error=true" for ref in self.targets])


def builder_driver(host: str | None, name: str) -> str:
    """The driver of buildx builder `name` (docker, docker-container, kubernetes, remote), or a one-line refusal."""
    try:
        done = subprocess.run(["docker", "buildx", "inspect", name], capture_output=True, text=True, timeout=60,
                              env=_env(host), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DaemonError(f"cannot ask buildx for builder {name!r} ({exc}): {NO_BUILDX}") from None
    driver = next((line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                   if line.startswith("Driver:")), None)
    if done.returncode != 0 or not driver:
        raise DaemonError(f"no buildx builder {name!r} here: create it (docker buildx create --name {name} --driver "
                          "docker-container, or a kubernetes/remote one) or leave --builder out for the engine's own")
    return driver


def build(host: str | None, context: Path, *, buildargs: dict[str, str], labels: dict[str, str], network: str | None,
          nocache: bool, log: IO[str], on_step: Callable[[int, int, str], None], platform: str | None,
          builder: str | None = None, cache: Cache = Cache()) -> tuple[str, ...]:
    """Build into the engine's image store, untagged, and return the ids it may know the image by: the manifest's
    digest (the containerd image store's id), then the config's (the classic store's). Another buildx `builder`
    (a docker-container, kubernetes or remote BuildKit) builds; its image is loaded into the engine."""
    output = OUTPUT if builder is None or builder_driver(host, builder) == "docker" else LOAD
    with tempfile.TemporaryDirectory(prefix="imgbuild-iid-") as folder:
        metadata = Path(folder) / "metadata.json"
        command = ["docker", "buildx", "build", "--progress=plain", "--output", output, "--metadata-file", str(metadata),
                   # imgbuild writes its own SBOM and provenance beside the digest (publish/attach.py)
                   "--provenance=false", "--sbom=false", *cache.flags()]
        # BuildKit's own network is the engine's default (bridge) one; it takes no other name for it
        command += [f"--network={'default' if network == 'bridge' else network}"] if network else []
        command += ["--no-cache"] if nocache else []
        command += [f"--platform={platform}"] if platform else []
        for key, value in sorted(buildargs.items()):
            command += ["--build-arg", f"{key}={value}"]
        for key, value in sorted(labels.items()):
            command += ["--label", f"{key}={value}"]
        command.append(str(context))
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       errors="replace", env=_env(host, builder), stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise DaemonError(f"cannot run docker buildx ({exc.strerror}): {NO_BUILDX}") from None
        progress = _Progress(on_step)
        assert process.stdout is not None
        with process:
            for line in process.stdout:
                log.write(line)
                progress.read(line.rstrip("\n"))
        log.flush()
        if process.returncode != 0:
            raise BuildError(progress.failure(getattr(log, "name", "?")))
        try:
            facts = json.loads(metadata.read_text())
        except (OSError, ValueError):
            facts = {}
    ids = tuple(str(facts[key]) for key in ("containerimage.digest", "containerimage.config.digest") if facts.get(key))
    if not ids:
        raise BuildError(f"the build wrote no image id (full log: {getattr(log, 'name', '?')})")
    return ids


class _Progress:
    """BuildKit's plain progress, read line by line: which step runs, what each step printed last."""

    def __init__(self, on_step: Callable[[int, int, str], None]) -> None:
        self._on_step = on_step
        self._steps: dict[str, str] = {}
        self._said: defaultdict[str, deque[str]] = defaultdict(lambda: deque(maxlen=12))
        self._failed: str | None = None
        self._errors: list[str] = []

    def read(self, line: str) -> None:
        if match := _STEP.match(line):
            self._steps[match[1]] = f"step {match[2]}/{match[3]}: {match[4]}"
            self._on_step(int(match[2]), int(match[3]), match[4])
        elif match := _OUTPUT.match(line):
            if match[2].strip():
                self._said[match[1]].append(match[2].rstrip())
        elif match := _ERROR.match(line):
            self._failed = self._failed or match[1]
            self._said[match[1]].append(match[2])
        elif line.startswith("ERROR: "):
            self._errors.append(line[len("ERROR: "):])

    def failure(self, log_name: str) -> str:
        vertex = self._failed
        step = self._steps.get(vertex or "", "before the first step")
        return failed_step(step, [s for s in (self._said.get(vertex or "") or self._errors) if s.strip()], log_name)


def _env(host: str | None, builder: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKIT_", "BUILDX_"))}
    if host:
        env["DOCKER_HOST"] = host
    if builder:
        env["BUILDX_BUILDER"] = builder
    return env
