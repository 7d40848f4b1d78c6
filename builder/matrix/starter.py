"""`imgbuild init`: a starter matrix.yaml for a team to edit, taken from the packaged matrix."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..core.errors import ConfigError, OutputError
from ..core.paths import DEFAULT_MATRIX, claim
from .load import load_matrix
from .select import Selection, select


def write_starter(dest: Path, *, torch: str | None, cuda: str | None, force: bool, team: str | None = None) -> Path:
    """The whole packaged matrix (its source comments kept), or only the releases and CUDA builds selected;
    `team`: with an example team image of that name (and its test folder beside the matrix)."""
    if dest.exists() and not force:
        raise ConfigError(f"{dest} exists already: edit it, or pass --force to replace it")
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    if torch or cuda:
        text = _trimmed(text, torch, cuda)
    tests = None
    if team:
        text, tests = _with_team(text, team, dest.parent)
        # --force replaces the matrix; the team's tests are its own once written: only an unedited example of
        # ours is written again, anything else there is refused before anything is written.
        claim(tests, TEAM_TEST.format(team=team), whole=True)
    try:
        if tests:
            tests.parent.mkdir(parents=True, exist_ok=True)
            tests.write_text(TEAM_TEST.format(team=team), encoding="utf-8")
        dest.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or dest}: {exc.strerror}: run imgbuild init in a folder you can "
                          "write") from None
    return dest


TEAM_TEST = '''"""{team}'s own checks: imgbuild test runs them inside the {team} image, after the standard suite."""
import einops
import torch


def test_einops_rearranges_a_torch_tensor():
    x = torch.arange(6).reshape(2, 3)
    assert einops.rearrange(x, "a b -> b a").tolist() == x.T.tolist()
'''


def _with_team(text: str, team: str, folder: Path) -> tuple[str, Path]:
    """The packaged matrix ends with `images: []`: replace it with one example image for the newest torch; and the
    path of its example tests."""
    if not re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*", team):
        raise ConfigError(f"--team {team!r}: use lower-case letters, digits, '.', '_' or '-' (a repository name)")
    lines = text.rstrip("\n").splitlines()
    if not lines or lines[-1].strip() != "images: []":
        raise ConfigError("this matrix declares images already: add the team's entry under `images:` by hand")
    newest = yaml.safe_load(text)["releases"]
    torch = max((r["torch"] for r in newest), key=lambda t: tuple(int(p) for p in t.split(".")))
    tests = folder / "teams" / team / f"test_{team.replace('-', '_').replace('.', '_')}.py"
    example = [
        "images:",
        f"  - name: {team}",
        f"    variants: [\"{torch}-*-runtime\"]",
        "    pip: [\"einops==0.8.2\"]",
        "    apt: [jq]",
        f"    env: {{TEAM: {team}}}",
        f"    tests: teams/{team}",
    ]
    return "\n".join(lines[:-1] + example) + "\n", tests


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
