"""A variant without a lock, as a new user meets it through the installed command: `build` resolves the lock on
the spot (real uv, the real index) and says where it wrote it; `release` never resolves one: it records the variant
as not locked, builds nothing and fails naming the lock command."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import ROOT, imgbuild
from imgbuild.lock.lockfile import lock_inputs, read_lock
from imgbuild.matrix.load import load_matrix
from imgbuild.matrix.select import Selection, select

SEED = ("--torch", "2.9", "--cuda", "12.8", "--flavor", "runtime")  # a seed article's row


def seed_variant():
    [variant] = select(load_matrix(ROOT / "matrix.yaml"), Selection(torch="2.9", cuda="12.8", flavor="runtime"))
    return variant


def test_build_resolves_a_missing_lock_and_says_where(tmp_path: Path, base_image: str) -> None:
    locks = tmp_path / "locks"
    # No network for the build: it stops at its first download, after the lock (the whole build of this row is
    # the benchmark's: bench/seed_rows.py).
    result = imgbuild("build", *SEED, "--base-image", base_image, "--network", "none",
                      env={"IMGBUILD_LOCKS": str(locks)}, timeout=900)
    variant = seed_variant()
    lock_file = locks / f"{variant.id}.txt"
    assert f"had no current lock: resolved one now into {lock_file}" in result.stderr, result.stderr
    lock = read_lock(lock_file)
    assert lock.pins and all(p.hashes for p in lock.pins)
    assert dict((p.name, p.version) for p in lock.pins)["torch"] == variant.torch
    assert result.returncode != 0 and result.stderr.count("imgbuild: error:") == 1  # then the build's own line


def test_release_of_an_unlocked_variant_records_it_and_resolves_nothing(tmp_path: Path) -> None:
    locks, out = tmp_path / "locks", tmp_path / "release"
    result = imgbuild("release", *SEED, "--registry", "127.0.0.1:9/team", "--out", str(out),
                      env={"IMGBUILD_LOCKS": str(locks)}, timeout=300)
    variant = seed_variant()
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("imgbuild: error:")]
    assert len(errors) == 1 and f"run `imgbuild lock --variant {variant.id}`" in errors[0], result.stderr
    assert not locks.exists() or not any(locks.iterdir())  # publishing never resolves a lock
    [entry] = json.loads((out / "release.json").read_text())["images"]
    assert entry["status"] == "not-locked" and entry["variant"] == variant.id
    assert "## Not locked (nothing built)" in (out / "TAGS.md").read_text()
    assert lock_inputs(variant).python == variant.python
