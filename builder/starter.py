"""`imgbuild init`: a starter matrix.yaml for a team to edit, taken from the packaged matrix."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError, OutputError
from .matrix import Selection, load_matrix, select
from .paths import DEFAULT_MATRIX


def write_starter(dest: Path, *, torch: str | None, cuda: str | None, force: bool) -> Path:
    """The whole packaged matrix (its source comments kept), or only the releases and CUDA builds selected."""
    if dest.exists() and not force:
        raise ConfigError(f"{dest} exists already: edit it, or pass --force to replace it")
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    if torch or cuda:
        text = _trimmed(text, torch, cuda)
    try:
        dest.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror}: run imgbuild init in a folder you can write") from None
    return dest


def _trimmed(text: str, torch: str | None, cuda: str | None) -> str:
    """Keep the selected releases and CUDA builds; the result is checked by loading it back."""
    chosen = select(load_matrix(DEFAULT_MATRIX), Selection(torch=torch, cuda=cuda, python="all"))
    keep = {(v.torch, v.cuda) for v in chosen}
    data = yaml.safe_load(text)
    releases = []
    for release in data["releases"]:
        builds = {c: b for c, b in release.get("cuda", {}).items() if (release["torch"], c) in keep}
        has_cpu = (release["torch"], "cpu") in keep
        if not builds and not has_cpu:
            continue
        first = next(iter(builds), "cpu")
        for key in ("pypi_cuda", "default_cuda"):
            if release[key] not in builds and not (release[key] == "cpu" and has_cpu):
                release[key] = first
        releases.append({**release, "cuda": builds, "cpu": has_cpu})
    data["releases"] = releases
    data["cuda"] = {c: info for c, info in data["cuda"].items() if any(c in r["cuda"] for r in releases)}
    header = f"# Starter matrix from imgbuild's packaged matrix (torch {torch or 'any'}, CUDA {cuda or 'any'}).\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
