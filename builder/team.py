"""A team's image on top of a variant (matrix.yaml `images:`): which images a selection means, the team's
build context (templates/Team.Dockerfile.j2), and its build.

A team's image builds FROM its variant's local image, in layers above torch, so every image of a variant
shares the layers below. Its Variant is the variant's own with `image` set to the team's name and `team`
set: the same id and the same tags, under another repository. What a team may add is checked when the
matrix loads (extras.py), before anything is built.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import tags
from .errors import BuildError, ConfigError, NothingSelected
from .extras import PINNED_PIP, PINNED_PIP_PREFIXES
from .render import UID, BuildContext, render_template
from .variant import Team, Variant

if TYPE_CHECKING:
    from .build import BuildOptions, Image
    from .engine import Engine
    from .matrix import Matrix
    from .progress import Reporter

TESTS_DIR = "/opt/imgbuild/team-tests"
LABEL_IMAGE, LABEL_PIP, LABEL_APT, LABEL_TESTS = ("io.imgbuild.image", "io.imgbuild.team.pip", "io.imgbuild.team.apt",
                                                 "io.imgbuild.team.tests")


def teams_of(matrix: Matrix) -> list[Team]:
    """The matrix's team images, their test folders resolved against the matrix file."""
    here = Path(matrix.source).resolve().parent
    return [Team(name=spec.name, pip=tuple(spec.pip), apt=tuple(sorted(spec.apt)), env=tuple(sorted(spec.env.items())),
                 tests=(here / spec.tests) if spec.tests else None, on=matrix.file.defaults.image,
                 variants=tuple(spec.variants))
            for spec in matrix.file.images]


def with_images(matrix: Matrix, variants: list[Variant], names: list[str] | None) -> list[Variant]:
    """Each selected variant's images: its own, then every team image declared for it. `names` (from
    --image) keeps only those; None keeps all."""
    teams = teams_of(matrix)
    standard = matrix.file.defaults.image
    known = [standard] + [t.name for t in teams]
    for name in names or ():
        if name not in known:
            raise ConfigError(f"--image {name}: the matrix has no such image; it has {', '.join(known)}")
    wanted = set(names or known)
    chosen = []
    for v in variants:
        if standard in wanted:
            chosen.append(v)
        chosen += [team_variant(v, t) for t in teams if t.name in wanted and t.builds_on(v.id)]
    if not chosen:
        raise NothingSelected(f"--image {' '.join(names or ())}: no selected variant has it; it is built for "
                          + "; ".join(f"{t.name}: {' '.join(t.variants)}" for t in teams if t.name in wanted))
    return chosen


def team_variant(v: Variant, team: Team) -> Variant:
    return replace(v, image=team.name, team=team)


def base_of(v: Variant) -> Variant:
    """The variant's own image, which a team's image builds FROM."""
    assert v.team is not None
    return replace(v, image=v.team.on, team=None)


def pinned_pattern() -> str:
    """The pip freeze lines a team's install must not change (grep -E, case-insensitive)."""
    names = "|".join(sorted(PINNED_PIP))
    prefixes = "|".join(p.rstrip("-") + "[-_][^=]+" for p in PINNED_PIP_PREFIXES)
    return f"^({names}|{prefixes})=="


def team_labels(v: Variant) -> dict[str, str]:
    team, base = v.team, base_of(v)
    assert team is not None
    what = "CPU" if v.is_cpu else f"CUDA {v.cuda}"
    return {
        "org.opencontainers.image.title": f"{team.name}: PyTorch {v.torch} ({what}, {v.flavor}) plus {team.name} packages",
        "org.opencontainers.image.base.name": tags.local_ref(base),
        LABEL_IMAGE: team.name,
        LABEL_PIP: json.dumps(list(team.pip), separators=(",", ":")),
        LABEL_APT: json.dumps(list(team.apt), separators=(",", ":")),
        LABEL_TESTS: TESTS_DIR if team.tests else "none",
    }


def quoted(value: str) -> str:
    """A Dockerfile double-quoted word: the value exactly, whatever a team writes in its env (schema.py refuses
    line breaks)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render_team(v: Variant, out: Path) -> BuildContext:
    """Write the team's build context to out/<team>-<variant id>/: Dockerfile, requirements.txt, tests/."""
    team = v.team
    assert team is not None
    path = out / v.name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    data = {"variant": v, "team": team, "base_ref": tags.local_ref(base_of(v)), "apt": list(team.apt),
            "pip": list(team.pip), "env": [(k, quoted(value)) for k, value in team.env], "tests": team.tests is not None,
            "tests_dir": TESTS_DIR, "uid": UID, "pinned_pattern": pinned_pattern(),
            "labels": [(k, quoted(value)) for k, value in sorted(team_labels(v).items())]}
    (path / "Dockerfile").write_text(render_template("Team.Dockerfile.j2", data), encoding="utf-8")
    (path / "requirements.txt").write_text("".join(f"{r}\n" for r in team.pip), encoding="utf-8")
    if team.tests:
        if not team.tests.is_dir():
            raise ConfigError(f"image {team.name}: its tests folder {team.tests} is not there: make it or drop `tests:`")
        shutil.copytree(team.tests, path / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    (path / ".dockerignore").write_text("# the context is exactly what imgbuild rendered\n", encoding="utf-8")
    return BuildContext(variant=v, path=path)


def build_team(v: Variant, engine: Engine, options: BuildOptions, reporter: Reporter) -> Image:
    """Build the variant's own image first when it is not there (it is the FROM), then the team's layers."""
    from .build import build, build_context

    base = base_of(v)
    if engine.image(tags.local_ref(base)) is None:
        reporter.info(f"{v.image}: building its base {tags.local_ref(base)} first")
        build(base, engine, options, reporter)
    ctx = render_team(v, options.work_dir / "contexts")
    try:
        return build_context(ctx, engine, options, reporter, {})
    except BuildError:
        held = pinned_conflict(options.work_dir / "logs" / f"{v.name}.build.log")
        if held is None:
            raise
        raise BuildError(f"image {v.image}: {held[0]}, but the variant keeps {held[1]} (torch, torchvision, timm, "
                         f"Triton and the CUDA wheels never move): pin a version of that extra made for "
                         f"torch {v.torch}") from None


def pinned_conflict(log: Path) -> tuple[str, str] | None:
    """(what an extra asked for, what the constraints hold) when pip refused to move a pinned package."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    wants = re.search(r"^\s*(\S+ \S+ depends on .+?)\s*$", text, re.MULTILINE)
    held = re.search(r"The user requested \(constraint\) (.+?)\s*$", text, re.MULTILINE)
    return (wants[1], held[1]) if wants and held else None
