"""The nightly's plan: every selected variant (locked or not: an unlocked one is that night's visible failure, never
left out), the runner each job needs, and the split into GitHub matrices of at most 256 jobs.

Which runners a team has is configuration (the repository variable IMGBUILD_RUNNERS, a JSON object), not an
assumption: `standard` builds and runs the CPU tier (default: GitHub's hosted ubuntu-latest), `large` takes the
variants whose release needs more disk than a standard hosted runner has (default: the standard runner, after the
job frees its preinstalled toolchains), `gpu` runs the GPU tier on the pushed digest (default: none, and CUDA
images are published as CPU-tested)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..core.errors import ConfigError
from ..core.platform import DEFAULT_PLATFORM
from ..core.variant import Variant, builds_of, platform_builds
from ..host.checks import BUILD_SPACE
from ..lock.lockfile import lock_problem
from .github import job_of, needs_gpu, strategy_matrix

MATRIX_LIMIT = 256  # GitHub: a matrix generates at most 256 jobs per workflow run
HOSTED_DISK = 14 * 10**9  # GitHub's documented SSD of a standard hosted Linux runner (public repositories)
HOSTED = "ubuntu-latest"
HOSTED_ARM = "ubuntu-24.04-arm"  # GitHub's hosted arm64 runner (public repositories)
KINDS = ("standard", "large", "gpu", "arm", "gpu_arm")


@dataclass(frozen=True)
class Runners:
    """The runs-on labels of each kind of job; `large`/`gpu` None where the team has no such runner."""

    standard: str | list[str] = HOSTED
    large: str | list[str] | None = None
    gpu: str | list[str] | None = None
    arm: str | list[str] = HOSTED_ARM
    gpu_arm: str | list[str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> Runners:
        """IMGBUILD_RUNNERS as the repository sets it: empty (GitHub's hosted runners only) or a JSON object such
        as {"gpu": ["self-hosted", "linux", "gpu"], "large": "ubuntu-latest-8-cores"}."""
        if not text or not text.strip():
            return cls()
        fix = ('set IMGBUILD_RUNNERS to a JSON object such as {"gpu": ["self-hosted", "linux", "gpu"]}, '
               'whose keys are ' + ", ".join(KINDS))
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"IMGBUILD_RUNNERS is not JSON ({exc}): {fix}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"IMGBUILD_RUNNERS is a JSON {type(data).__name__}, not an object: {fix}")
        if set(data) - set(KINDS):
            raise ConfigError(f"IMGBUILD_RUNNERS has other keys than {', '.join(KINDS)}: {fix}")
        for kind, labels in data.items():
            good = isinstance(labels, str) and labels.strip() or (
                isinstance(labels, list) and labels and all(isinstance(x, str) and x.strip() for x in labels))
            if not good:
                raise ConfigError(f"IMGBUILD_RUNNERS.{kind} is not a runner label or a list of labels: {fix}")
            # No runner's label holds a control character (a pasted line break, a tab): a job asking for one matches
            # no runner and waits in the queue until GitHub cancels it a day later.
            for label in [labels] if isinstance(labels, str) else labels:
                if not label.isprintable():
                    raise ConfigError(f"IMGBUILD_RUNNERS.{kind} label {label[:60]!r} holds a line break or another "
                                      "control character: write each label as plain text on one line")
        return cls(standard=data.get("standard", HOSTED), large=data.get("large"), gpu=data.get("gpu"),
                   arm=data.get("arm", HOSTED_ARM), gpu_arm=data.get("gpu_arm"))


def needs_large(variant: Variant) -> bool:
    """Its release (build, test, push) needs more disk than a standard hosted runner has (bench/release_disk.py)."""
    return BUILD_SPACE.get(variant.flavor, max(BUILD_SPACE.values())) > HOSTED_DISK


def unlocked_ids(variants: list[Variant]) -> set[str]:
    """The variants without a current lock (each lock read once per plan)."""
    return {v.id for v in variants if lock_problem(v)}


def job(variant: Variant, runners: Runners, unlocked: set[str]) -> dict[str, object]:
    """One job of the nightly's strategy.matrix. `locked` no: the job records the variant as not locked and fails;
    `free_disk` yes: the job first removes the hosted runner's preinstalled toolchains; `gpu_runs_on` empty: no
    GPU tier for it tonight."""
    large = needs_large(variant)
    if variant.platform == DEFAULT_PLATFORM:
        runs_on = (runners.large or runners.standard) if large else runners.standard
        has_large, gpu = bool(runners.large), runners.gpu
    else:  # one arm64 kind: a team's own runner (taken as roomy) or GitHub's hosted one (whose disk is freed)
        runs_on, has_large, gpu = runners.arm, runners.arm != HOSTED_ARM, runners.gpu_arm
    return job_of(variant, platform=variant.platform, gpu=needs_gpu(variant),
                  locked="no" if variant.id in unlocked else "yes", runs_on=runs_on,
                  free_disk="yes" if large and not has_large else "no",
                  gpu_runs_on=gpu if gpu and not variant.is_cpu else "")


def chunks(variants: list[Variant], size: int = MATRIX_LIMIT) -> list[list[Variant]]:
    """The variants cut into matrices of at most `size` jobs, every platform of one build in the same chunk (its
    join job waits for them there); builds in order of first appearance."""
    if size < 1 or size > MATRIX_LIMIT:
        raise ConfigError(f"--chunk-size {size}: a GitHub matrix takes 1 to {MATRIX_LIMIT} jobs")
    cut: list[list[Variant]] = [[]]
    for build in builds_of(variants):
        if len(cut[-1]) + len(build) > size and cut[-1]:
            cut.append([])
        for v in build:  # a build larger than a chunk (--chunk-size 1) is split: its join then waits across chunks
            if len(cut[-1]) == size:
                cut.append([])
            cut[-1].append(v)
    return cut if cut[0] else []


def join_job(build: list[Variant]) -> dict[str, object]:
    """One job of the chunk's join matrix: the build's plain tags, once each platform's job is done."""
    return {"variant": build[0].id, "platforms": " ".join(v.platform for v in build)}


def layout(variants: list[Variant], unlocked: set[str], size: int = MATRIX_LIMIT,
           pieces: list[list[Variant]] | None = None) -> dict[str, object]:
    """What the nightly's first job needs: how many chunks, grouped in parts of at most 256 chunks (one workflow
    run each: its chunk matrix is a matrix too), and how many variants are not locked. `pieces`: the chunks, where
    the caller cut them already."""
    count = len(chunks(variants, size) if pieces is None else pieces)
    parts = [list(range(i, min(i + MATRIX_LIMIT, count))) for i in range(0, count, MATRIX_LIMIT)]
    missing = [v.id for v in variants if v.id in unlocked]
    return {"variants": len(variants), "chunk_size": size, "chunks": count, "parts": parts,
            "not_locked": len(missing), "not_locked_first": missing[:5]}


@dataclass(frozen=True)
class PlanView:
    """What `imgbuild plan` prints: one JSON text, and a word on the variants whose jobs fail tonight (no lock)."""

    text: str
    not_locked: str | None = None


def plan_view(variants: list[Variant], runners: Runners, chunk_size: int = MATRIX_LIMIT, *, show_layout: bool = False,
              chunk: int | None = None, gpu_jobs: bool = False, join_jobs: bool = False) -> PlanView:
    """One view of the nightly's plan: the layout, or one chunk's matrix of every job, its GPU jobs or its joins."""
    _one_view(show_layout, chunk, gpu_jobs, join_jobs)
    pieces, unlocked = chunks(variants, chunk_size), unlocked_ids(variants)
    plan = layout(variants, unlocked, chunk_size, pieces)
    said = (f"{plan['not_locked']} of {len(variants)} variants have no current lock: their jobs fail tonight (run "
            f"`imgbuild lock --variant ID`, e.g. {plan['not_locked_first'][0]})") if plan["not_locked"] else None
    if show_layout:
        return PlanView(json.dumps(plan, separators=(",", ":")), said)
    if chunk is None and len(pieces) > 1:
        raise ConfigError(f"{len(variants)} variants do not fit one GitHub matrix ({MATRIX_LIMIT} jobs): print the "
                          "--layout and one --chunk K at a time")
    if chunk is not None and chunk >= len(pieces):
        raise ConfigError(f"--chunk {chunk}: the plan has chunks 0 to {len(pieces) - 1}: pass one of them")
    if join_jobs:
        # A join needs the image of every platform of its build. With a selection that leaves a platform out
        # (--platform linux/amd64) nothing builds that platform tonight, so its joins could only fail: they are left
        # out, not refused, since a workflow plans its build, GPU and join matrices from one selection, and an empty
        # join matrix skips the join job while the builds go on.
        selected = {(v.image, v.id) for v in variants}
        joins = [b for b in platform_builds(pieces[chunk or 0]) if all((v.image, v.id) in selected for v in b)]
        return PlanView(strategy_matrix(join_job(b) for b in joins), said)
    jobs = [job(v, runners, unlocked) for v in pieces[chunk or 0]]
    if gpu_jobs:
        jobs = [j for j in jobs if j["gpu_runs_on"] and j["locked"] == "yes"]
    return PlanView(strategy_matrix(jobs), said)


def _one_view(show_layout: bool, chunk: int | None, gpu_jobs: bool, join_jobs: bool) -> None:
    """plan prints one thing: the layout, or one matrix (all jobs, GPU jobs or join jobs) of one chunk; an option
    the chosen view would ignore is refused, naming which to drop."""
    if show_layout and (ignored := [name for name, given in (("--chunk", chunk is not None), ("--gpu-jobs", gpu_jobs),
                                                             ("--join-jobs", join_jobs)) if given]):
        raise ConfigError(f"--layout prints how the whole plan is cut into chunks, not a chunk's jobs, so it would "
                          f"ignore {' and '.join(ignored)}: drop {' and '.join(ignored)}, or drop --layout")
    if gpu_jobs and join_jobs:
        raise ConfigError("--gpu-jobs and --join-jobs each print another matrix: drop one of them (run plan once for "
                          "each)")
