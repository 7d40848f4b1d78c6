"""Fixtures for the checks that run INSIDE a built image, with the image's own Python.

`imgbuild test` copies this folder into the container and sets the expectations from the image's
labels as IMGBUILD_* environment variables (see `Expected.from_env`). Nothing here downloads.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional

# Must be set before timm (huggingface_hub) is imported anywhere: models always start from random weights.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

GPU_NOT_REQUESTED = "GPU tier not requested (--gpu no)"
CPU_BUILD_NO_GPU_TIER = "CPU-only build (IMGBUILD_CUDA=cpu): the GPU tier does not apply"
NOT_DEVEL = "runtime flavor: nvcc and the CUDA headers ship only in devel images"
NO_CUDA_DIAGNOSIS = (
    "CUDA is not available inside the container: silent CPU fallback. No NVIDIA driver/GPU is visible; "
    "run the container with --gpus all and the NVIDIA container toolkit installed on the host"
)
REQUIRED_ENV = ("IMGBUILD_TORCH", "IMGBUILD_TORCHVISION", "IMGBUILD_TIMM", "IMGBUILD_CUDA", "IMGBUILD_FLAVOR")


@dataclass(frozen=True)
class Expected:
    """What the image's labels promise; every test compares the image against this."""

    torch: str
    torchvision: str
    timm: str
    cuda: str  # "13.0" or "cpu"
    cudnn: Optional[str]  # "9.13.0.50"; None for CPU builds
    flavor: str  # runtime | devel
    gpu: bool  # run the GPU tier
    report: Optional[Path]  # where measured figures go (JSON)

    @property
    def cpu_build(self) -> bool:
        return self.cuda == "cpu"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Expected:
        missing = [name for name in REQUIRED_ENV if not env.get(name)]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} not set: run these checks through `imgbuild test`, "
                "which sets the expectations from the image's labels"
            )
        return cls(
            torch=env["IMGBUILD_TORCH"],
            torchvision=env["IMGBUILD_TORCHVISION"],
            timm=env["IMGBUILD_TIMM"],
            cuda=env["IMGBUILD_CUDA"],
            cudnn=env.get("IMGBUILD_CUDNN") or None,
            flavor=env["IMGBUILD_FLAVOR"],
            gpu=env.get("IMGBUILD_GPU", "no").lower() in ("yes", "1", "true"),
            report=Path(env["IMGBUILD_REPORT"]) if env.get("IMGBUILD_REPORT") else None,
        )


def public_version(version: str) -> str:
    """'2.14.1+cu130' -> '2.14.1': the local part names the build, not the release."""
    return version.split("+", 1)[0]


EXPECTED = pytest.StashKey[Expected]()

# Figures measured during the run; written to $IMGBUILD_REPORT at the end of the session.
_REPORT: Dict[str, object] = {}


@pytest.fixture(scope="session")
def expected(pytestconfig: pytest.Config) -> Expected:
    return pytestconfig.stash[EXPECTED]


@pytest.fixture(scope="session")
def report() -> Dict[str, object]:
    """A dict the tests put measured figures in (img/s, device name)."""
    return _REPORT


@pytest.fixture(scope="session")
def timm():
    try:
        import timm as timm_module
    except ImportError as exc:
        pytest.fail(f"timm is not installed in this image ({exc})", pytrace=False)
    return timm_module


@functools.lru_cache(maxsize=None)
def _cuda_diagnosis() -> Optional[str]:
    """None when CUDA works, else why not, with what the container can see (asked once per session)."""
    import torch

    if torch.cuda.is_available():
        return None
    try:
        torch.cuda.init()
        cause = "torch sees no CUDA device"
    except Exception as exc:  # torch raises RuntimeError/AssertionError with the driver's own words
        cause = str(exc).splitlines()[0]
    seen = {
        "torch.version.cuda": torch.version.cuda,
        "/dev/nvidia0": os.path.exists("/dev/nvidia0"),
        "NVIDIA_VISIBLE_DEVICES": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    return f"{NO_CUDA_DIAGNOSIS}. torch says: {cause}. Seen: {seen}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: GPU tier; runs only with IMGBUILD_GPU=yes")
    try:
        config.stash[EXPECTED] = Expected.from_env(os.environ)  # checked once, before any test runs
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is None:
        return
    expected = item.config.stash[EXPECTED]
    if not expected.gpu:
        pytest.skip(GPU_NOT_REQUESTED)
    if expected.cpu_build:
        pytest.skip(CPU_BUILD_NO_GPU_TIER)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # In the call phase, not in a fixture: a missing GPU is a FAILED test, not a setup error.
    if item.get_closest_marker("gpu") is None:
        return
    diagnosis = _cuda_diagnosis()
    if diagnosis is not None:
        pytest.fail(diagnosis, pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    expected = session.config.stash.get(EXPECTED, None)
    if expected is None or expected.report is None:
        return
    expected.report.parent.mkdir(parents=True, exist_ok=True)
    expected.report.write_text(json.dumps(_REPORT, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def cuda():
    """The GPU tier's device (tests using it carry @pytest.mark.gpu)."""
    import torch

    return torch.device("cuda")


@pytest.fixture(scope="session")
def devel(expected: Expected) -> None:
    if expected.flavor != "devel":
        pytest.skip(NOT_DEVEL)


@dataclass(frozen=True)
class TrainResult:
    first_loss: float
    last_loss: float
    images_per_s: float

    @property
    def learned(self) -> bool:
        """Finite losses, the last lower than the first."""
        return math.isfinite(self.first_loss) and math.isfinite(self.last_loss) and self.last_loss < self.first_loss

    def __str__(self) -> str:
        return f"loss {self.first_loss:.4f} -> {self.last_loss:.4f}, {self.images_per_s:.1f} img/s"


def train_deit(timm, device, *, steps: int, batch_size: int, bf16: bool, compile: bool = False,
               model_name: str = "deit_tiny_patch16_224") -> TrainResult:
    """A few AdamW steps on one fixed synthetic batch: a model that trains memorises it, so the loss drops.

    The first step is warm-up (allocation, autotuning, compilation) and is not timed. The losses are read
    only at the end so that timing never waits on a device-to-host copy.
    """
    import torch

    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False, num_classes=10)
    model = model.to(device, memory_format=torch.channels_last).train()
    images = torch.randn(batch_size, 3, 224, 224).to(device, memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    step_model = torch.compile(model) if compile else model

    def loss_of_batch() -> torch.Tensor:
        # bf16 autocast on CPU is emulated (many times slower) unless the CPU has AMX/AVX512-BF16.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return torch.nn.functional.cross_entropy(step_model(images), labels)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    losses = []
    started = 0.0
    for step in range(steps):
        if step == 1:
            sync()
            started = time.perf_counter()
        loss = loss_of_batch()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    sync()
    elapsed = time.perf_counter() - started
    return TrainResult(
        first_loss=losses[0].item(),
        last_loss=losses[-1].item(),
        images_per_s=batch_size * (steps - 1) / elapsed,
    )


@pytest.fixture(scope="session")
def deit_trainer() -> Callable[..., TrainResult]:
    return train_deit


def declared(name: str) -> List[str]:
    """A JSON list the image's labels declare (IMGBUILD_WORKBENCH_OS, IMGBUILD_TEAM_PIP, ...); [] when absent."""
    value = os.environ.get(name) or "[]"
    try:
        items = json.loads(value)
    except ValueError:
        raise pytest.UsageError(f"{name} is not a JSON list: {value[:200]}") from None
    return [str(item) for item in items]


def import_names(distribution: str) -> List[str]:
    """The top-level modules an installed distribution provides (pyyaml -> yaml, opencv-python -> cv2)."""
    import re
    from importlib.metadata import packages_distributions

    def canonical(name: str) -> str:  # PEP 503, without needing `packaging` in the image
        return re.sub(r"[-_.]+", "-", name).lower()

    want = canonical(distribution)
    return sorted(module for module, dists in packages_distributions().items()
                  if any(canonical(d) == want for d in dists) and not module.startswith("_"))
