"""`imgbuild doctor`'s checks: can this host build, GPU-test and publish images? One Check per link, each with its fix.

A missing GPU is a warning, not a failure: a CPU-only host builds every variant (GPU ones included) and
smoke-tests them without the GPU tier. A host that has an NVIDIA driver but whose Docker cannot pass the
GPU through (`--gpus`) is a failure: it looks like a GPU runner and would fail every GPU-tier test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from ..core.errors import ConfigError, DaemonError, ImgbuildError, RegistryError
from ..core.platform import DEFAULT_PLATFORM
from ..registry.target import RegistryTarget
from .checks import Check, MatrixNeeds, disk_check, split_message
from .gpu import TOOLKIT_FIX, docker_has_nvidia, host_driver
from .preflight import check_base_images

NO_GPU = "no NVIDIA driver: GPU variants can be built but not GPU-tested here"
NO_GPU_FIX = "install the driver and the NVIDIA Container Toolkit"
DAEMON_FIX = "start dockerd (`sudo systemctl start docker`) or point DOCKER_HOST at a running daemon"

# A failed check exits with the code of its kind (README, "Exit codes"); 1 would say imgbuild has a bug.
EXIT_OF_CHECK = {"matrix": ConfigError.exit_code, "docker daemon": DaemonError.exit_code,
                 "image builder": DaemonError.exit_code, "base image": DaemonError.exit_code,
                 "registry": RegistryError.exit_code}


@dataclass(frozen=True)
class Diagnosis:
    """Every check of this host, in the order a user fixes them."""

    checks: tuple[Check, ...]

    @property
    def exit_code(self) -> int:
        return exit_code(self.checks)


def exit_code(checks: Sequence[Check]) -> int:
    """0 when nothing failed (warnings allowed), else the exit code of the first failure's kind (the host's GPU and
    driver: configuration, 2)."""
    failed = [c.name for c in checks if c.ok is False]
    return EXIT_OF_CHECK.get(failed[0], ConfigError.exit_code) if failed else 0


def diagnose(read_matrix: Callable[[], MatrixNeeds], engine_factory: Callable[[], object], env: Mapping[str, str],
             registry: str | None = None) -> Diagnosis:
    """The matrix first (a matrix that cannot be read is a failed check, not an error), then every host check."""
    try:
        needs = read_matrix()
        first = Check("matrix", True, f"{needs.source}: {needs.variants} variants")
    except ImgbuildError as exc:
        needs, first = None, Check("matrix", False, *split_message(str(exc)))
    return Diagnosis((first, *run_checks(engine_factory, needs, env, registry)))


def run_checks(engine_factory: Callable[[], object], matrix: MatrixNeeds | None, env: Mapping[str, str],
               registry: str | None = None) -> list[Check]:
    """Every check, in the order a user fixes them: daemon, GPU pass-through, driver, disk, registry."""
    checks: list[Check] = []
    engine = None
    try:
        engine = engine_factory()
    except ImgbuildError as exc:
        detail, fix = split_message(str(exc))
        if env.get("DOCKER_HOST"):
            detail = f"{detail} [DOCKER_HOST={env['DOCKER_HOST']}]"
        checks.append(Check("docker daemon", False, detail, fix or DAEMON_FIX))
    driver = host_driver()
    info = engine.info() if engine is not None else None  # one daemon call serves three checks
    if info is not None:
        checks.append(_daemon(engine, info, env))
        checks.append(_builder(engine))
        checks.append(_gpus(sorted((info.get("Runtimes") or {}).keys()), driver))
    checks.append(_driver(driver, matrix))
    if info is not None:
        checks.append(disk_check(info))
        if matrix is not None:
            checks.append(_base_image(engine, matrix.base_image))
    checks.append(_registry(registry, env))
    return checks


def _daemon(engine, info: dict, env: Mapping[str, str]) -> Check:
    where = env.get("DOCKER_HOST") or "the default socket"
    return Check("docker daemon", True,
                 f"API {engine.api_version}, Docker {info.get('ServerVersion', '?')} at {where}")


def _builder(engine) -> Check:
    """BuildKit (Docker 25+ with buildx) or Podman's Buildah builds; an older Docker or a missing plugin cannot."""
    try:
        detail = engine.describe_builder()
    except ImgbuildError as exc:
        detail, fix = split_message(str(exc))
        return Check("image builder", False, detail, fix)
    if engine.builder == "buildkit" and not engine.containerd_store:
        return Check("image builder", None, detail, 'enable it for zstd layers and attestations kept as built: '
                     '{"features": {"containerd-snapshotter": true}} in daemon.json')
    return Check("image builder", True, detail)


def _gpus(runtimes: list[str], driver: str | None) -> Check:
    if docker_has_nvidia(runtimes):
        return Check("docker --gpus", True,
                     f"NVIDIA Container Toolkit present (runtimes: {', '.join(runtimes)})")
    detail = f"Docker has no NVIDIA runtime (runtimes: {', '.join(runtimes) or 'none'}): --gpus cannot work"
    # Only a host with a driver is meant to run the GPU tier; without one this is expected.
    return Check("docker --gpus", False if driver else None, detail, TOOLKIT_FIX)


def _driver(driver: str | None, matrix: MatrixNeeds | None) -> Check:
    if driver is None:
        return Check("NVIDIA driver", None, NO_GPU, NO_GPU_FIX)
    if matrix is None:
        return Check("NVIDIA driver", None, f"driver {driver}; no matrix to compare it with",
                     "fix the matrix")
    try:
        have = Version(driver)
    except InvalidVersion:
        return Check("NVIDIA driver", None, f"cannot read the driver version {driver!r}", "check nvidia-smi")
    needs = {cuda: Version(min_driver) for cuda, min_driver in matrix.min_drivers.items()}
    runs = sorted((c for c, v in needs.items() if have >= v), key=Version)
    cannot = sorted((c for c, v in needs.items() if have < v), key=Version)
    if not cannot:
        return Check("NVIDIA driver", True,
                     f"driver {driver} runs every CUDA of the matrix: {', '.join(runs)}")
    newest = matrix.min_drivers[max(cannot, key=lambda c: needs[c])]  # as written: "580.65.06"
    detail = (f"driver {driver} runs CUDA {', '.join(runs) or 'none of the matrix'}; "
              f"not {', '.join(cannot)}")
    return Check("NVIDIA driver", None if runs else False, detail,
                 f"upgrade the driver to {newest} or newer to GPU-test CUDA {', '.join(cannot)}")


def _base_image(engine, ref: str) -> Check:
    """The matrix's base is here or pullable; where Docker Hub is out of reach, `imgbuild base` makes one."""
    try:
        pulled = check_base_images(engine, [(ref, DEFAULT_PLATFORM)])
    except ImgbuildError:  # a warning: builds still work with --base-image
        return Check("base image", None, f"the matrix's {ref} is not here and cannot be pulled",
                     "make one from this host's apt sources with `imgbuild base` and pass the --base-image it prints")
    return Check("base image", True, f"{ref}: {'pulled' if pulled else 'present'}")


def _registry(value: str | None, env: Mapping[str, str]) -> Check:
    if not value:
        return Check("registry", None, "not checked", "pass --registry HOST/NAMESPACE to check the login")
    try:
        target = RegistryTarget.open(value, env, retries=1, timeout=15)
        target.client.check_login()
    except ImgbuildError as exc:
        detail, fix = split_message(str(exc))
        return Check("registry", False, detail, fix)
    who = f"user {target.credentials.username!r}" if target.credentials else "no credentials (an open registry)"
    return Check("registry", True, f"{target.host}: logged in as {who}")
