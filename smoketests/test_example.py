"""The training example shipped in the image runs as documented and writes a checkpoint that restores."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest
import torch

EXAMPLE = Path(os.environ.get("IMGBUILD_EXAMPLES_DIR", "/opt/imgbuild/examples"), "train_deit.py")
MODEL = "deit_tiny_patch16_224"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Tuple[subprocess.CompletedProcess, Path]:
    """Runs the example once (device: auto, as a user would) on synthetic data."""
    if not EXAMPLE.is_file():
        pytest.fail(f"{EXAMPLE} is missing: the image must ship the training example", pytrace=False)
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    command = [sys.executable, str(EXAMPLE), "--steps", "2", "--batch-size", "4", "--model", MODEL,
               "--synthetic", "--workers", "0", "--checkpoint-dir", str(checkpoints)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=checkpoints,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return result, checkpoints


def test_example_exits_zero(example_run) -> None:
    result, _ = example_run
    assert result.returncode == 0, f"train_deit.py exited {result.returncode}:\n{result.stdout}\n{result.stderr[-3000:]}"


def test_example_writes_checkpoint(example_run) -> None:
    _, checkpoints = example_run
    written = sorted(checkpoints.glob("*.pt"))
    assert written == [checkpoints / f"{MODEL}-step2.pt"], f"expected one checkpoint after 2 steps, found {written}"


def test_checkpoint_restores_model(example_run, timm) -> None:
    _, checkpoints = example_run
    state = torch.load(checkpoints / f"{MODEL}-step2.pt", map_location="cpu", weights_only=True)
    model = timm.create_model(state["model_name"], pretrained=False, num_classes=state["num_classes"])
    result = model.load_state_dict(state["model"])
    assert not result.missing_keys and not result.unexpected_keys, f"checkpoint does not fit {MODEL}: {result}"
