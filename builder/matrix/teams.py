"""The team images a selection means (matrix.yaml `images:`): each selected variant's own image, then every
team's image declared for it, as Variants of the Team kind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.errors import ConfigError, NothingSelected
from ..core.variant import Team, Variant
from .load import Matrix


def teams_of(matrix: Matrix) -> list[Team]:
    """The matrix's team images, their test folders resolved against the matrix file."""
    here = Path(matrix.source).resolve().parent
    return [Team(name=spec.name, pip=tuple(spec.pip), apt=tuple(sorted(spec.apt)), env=tuple(sorted(spec.env.items())),
                 tests=(here / spec.tests).resolve() if spec.tests else None, from_repository=matrix.file.defaults.image,
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
    return replace(v, image=team.name, kind=team)
