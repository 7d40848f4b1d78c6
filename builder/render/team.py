"""The build context of a team's image (matrix.yaml `images:`, templates/Team.Dockerfile.j2).

A team's image builds FROM its variant's local image, in layers above torch, so every image of a variant
shares the layers below. Its Variant is the variant's own with `image` set to the team's name and the Team as
its kind: the same id and the same tags, under another repository. What a team may add is checked when the
matrix loads (matrix/extras.py), before anything is built.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from ..core import tags
from ..core.errors import ConfigError
from ..core.variant import Team, Variant
from ..matrix.extras import PINNED_PIP, PINNED_PIP_PREFIXES
from .context import BuildContext, fresh_folder
from .dockerfile import UID, render_template

TESTS_DIR = "/opt/imgbuild/team-tests"
LABEL_IMAGE, LABEL_PIP, LABEL_APT, LABEL_TESTS = ("io.imgbuild.image", "io.imgbuild.team.pip", "io.imgbuild.team.apt",
                                                 "io.imgbuild.team.tests")


def pinned_pattern() -> str:
    """The pip freeze lines a team's install must not change (grep -E, case-insensitive)."""
    names = "|".join(sorted(PINNED_PIP))
    prefixes = "|".join(p.rstrip("-") + "[-_][^=]+" for p in PINNED_PIP_PREFIXES)
    return f"^({names}|{prefixes})=="


def team_labels(v: Variant, team: Team) -> dict[str, str]:
    what = "CPU" if v.is_cpu else f"CUDA {v.cuda}"
    return {
        "org.opencontainers.image.title": f"{team.name}: PyTorch {v.torch} ({what}, {v.flavor}) plus {team.name} packages",
        "org.opencontainers.image.base.name": tags.built_from(v),
        LABEL_IMAGE: team.name,
        LABEL_PIP: json.dumps(list(team.pip), separators=(",", ":")),
        LABEL_APT: json.dumps(list(team.apt), separators=(",", ":")),
        LABEL_TESTS: TESTS_DIR if team.tests else "none",
    }


def render_team(team: Team, v: Variant, out: Path, *, unlocked: bool = False) -> BuildContext:
    """Write the team's build context to out/<team>-<variant id>/: Dockerfile, requirements.txt, tests/ (its extras
    are not locked: `unlocked` changes nothing here). `team` is `v.kind`, as render.WRITERS hands it over."""
    if team.tests and not team.tests.is_dir():
        raise ConfigError(f"image {team.name}: its tests folder {team.tests} is not there: make it or drop `tests:`")
    if team.tests and (escaping := _links_out_of(team.tests)):
        raise ConfigError(f"image {team.name}: {escaping} in its tests folder links outside it (it would copy a file "
                          "of this host into the image): replace the link with the file")
    path = fresh_folder(out, v)
    data = {"variant": v, "team": team, "base_ref": tags.built_from(v), "apt": list(team.apt),
            "pip": list(team.pip), "env": list(team.env), "tests": team.tests is not None,
            "tests_dir": TESTS_DIR, "uid": UID, "pinned_pattern": pinned_pattern(),
            "labels": sorted(team_labels(v, team).items())}
    (path / "Dockerfile").write_text(render_template(team.template, data), encoding="utf-8")
    (path / "requirements.txt").write_text("".join(f"{r}\n" for r in team.pip), encoding="utf-8")
    if team.tests:
        shutil.copytree(team.tests, path / "tests", symlinks=True, ignore=_leaving_out(path))
    return BuildContext(variant=v, path=path)


def _leaving_out(destination: Path) -> Callable[[str, list[str]], set[str]]:
    """What the copy of a tests folder leaves out: caches, hidden files, and the folder being rendered into (tests
    "." with --out inside the matrix's folder would otherwise copy the copy into itself, without end)."""
    plain, inside = shutil.ignore_patterns("__pycache__", "*.pyc", ".*"), destination.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        return set(plain(folder, names)) | {n for n in names if inside.is_relative_to((Path(folder) / n).resolve())}
    return ignore


def _links_out_of(folder: Path) -> Path | None:
    """The first symbolic link under `folder` that resolves outside it, if any."""
    root = folder.resolve()
    for entry in sorted(folder.rglob("*")):
        if entry.is_symlink() and not entry.resolve().is_relative_to(root):
            return entry
    return None
