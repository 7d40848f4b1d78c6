"""`imgbuild init`, `imgbuild matrix` and `imgbuild plan`: what the matrix builds, as tables and as CI's matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.measure import Measurement
from rich.table import Table

from ..core import tags
from ..core.errors import ConfigError
from ..core.variant import Variant
from .options import CudaOpt, SelectionOptions, TorchOpt, cli_options, output


def init_cmd(
    ctx: typer.Context, torch: TorchOpt = None, cuda: CudaOpt = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing ./matrix.yaml (never a team's own "
                                                         "tests)")] = False,
    team: Annotated[Optional[str], typer.Option("--team", help="add an example team image of this name "
                                                               "(and its tests in teams/NAME/)")] = None,
) -> None:
    """Write a starter matrix.yaml into this folder (the packaged one, or the releases --torch/--cuda name)."""
    from ..matrix.starter import write_starter

    written = write_starter(Path("matrix.yaml"), torch=torch, cuda=cuda, force=force, team=team)
    output(ctx).result(f"wrote {written}: edit it, then `imgbuild matrix` lists what it builds"
                            + (f"; `imgbuild build --image {team}` builds the team's image" if team else ""))


def variant_record(v: Variant) -> dict[str, object]:
    """A variant as JSON: its fields plus the tags it would get today."""
    return {**v.summary(), "tags": tags.tags(v, tags.build_date()), "index": v.index}


@cli_options
def matrix_cmd(
    ctx: typer.Context, select: SelectionOptions,
    as_json: Annotated[bool, typer.Option("--json", help="print {\"variants\": [...]}")] = False,
    github: Annotated[bool, typer.Option("--github", help="print a GitHub Actions strategy.matrix")] = False,
) -> None:
    """List the selected variants (all of them by default)."""
    out, variants = output(ctx), select.variants()
    if github:  # `gpu` picks the runner (self-hosted `gpu` or ubuntu-latest)
        from ..plan.github import job_of, needs_gpu, strategy_matrix

        out.data(strategy_matrix(job_of(v, gpu=needs_gpu(v)) for v in variants))
        return
    if as_json:
        out.data(json.dumps({"variants": [variant_record(v) for v in variants]}, indent=2))
        return
    table = Table(title=f"{len(variants)} variants")
    for column in ("id", "torch", "torchvision", "cuda", "cudnn", "python", "flavor", "min driver", "tag"):
        table.add_column(column, no_wrap=True)
    for v in variants:
        table.add_row(v.id, v.torch, v.torchvision, v.cuda, v.cudnn or "-", v.python, v.flavor,
                      v.min_driver or "-", tags.release_tag(v))
    natural = Measurement.get(out.out, out.out.options.update(max_width=10_000), table).maximum
    if natural > out.out.width:  # the table would cut ids: a plain list keeps them whole
        widest = max(len(v.id) for v in variants)
        for v in variants:
            out.result(f"{v.id:<{widest}}  {tags.release_tag(v)}")
        return
    out.table(table)


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


@cli_options
def plan_cmd(
    ctx: typer.Context, *, select: SelectionOptions,
    runners: Annotated[Optional[str], typer.Option("--runners", envvar="IMGBUILD_RUNNERS", help="the runners a team "
                                                   "has, as JSON (see docs/nightly.md); default: GitHub's hosted "
                                                   "runners only")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="jobs per matrix (GitHub allows 256)")] = 256,
    show_layout: Annotated[bool, typer.Option("--layout", help="print how the plan is cut into matrices")] = False,
    chunk: Annotated[Optional[int], typer.Option("--chunk", min=0, help="print the matrix of chunk K")] = None,
    gpu_jobs: Annotated[bool, typer.Option("--gpu-jobs", help="only the locked CUDA variants a GPU runner tests")]
    = False,
    join_jobs: Annotated[bool, typer.Option("--join-jobs", help="one job per multi-platform build: its plain tags")]
    = False,
) -> None:
    """The nightly's strategy.matrix: every selected variant, each with the runner it needs; a variant without a
    current lock is planned too, and its job fails naming the lock command (the nightly never relocks)."""
    from ..plan.github import strategy_matrix
    from ..plan.nightly import MATRIX_LIMIT, Runners, chunks, job, join_job, layout, unlocked_ids
    from ..publish.index import builds

    _one_view(show_layout, chunk, gpu_jobs, join_jobs)
    out, variants, labels = output(ctx), select.variants(), Runners.parse(runners)
    pieces, unlocked = chunks(variants, chunk_size), unlocked_ids(variants)
    plan = layout(variants, unlocked, chunk_size)
    if plan["not_locked"]:
        out.info(f"{plan['not_locked']} of {len(variants)} variants have no current lock: their jobs fail tonight "
                 f"(run `imgbuild lock --variant ID`, e.g. {plan['not_locked_first'][0]})")
    if show_layout:
        out.data(json.dumps(plan, separators=(",", ":")))
        return
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
        joins = [b for b in builds(pieces[chunk or 0]) if all((v.image, v.id) in selected for v in b)]
        out.data(strategy_matrix(join_job(b) for b in joins))
        return
    jobs = [job(v, labels, unlocked) for v in pieces[chunk or 0]]
    if gpu_jobs:
        jobs = [j for j in jobs if j["gpu_runs_on"] and j["locked"] == "yes"]
    out.data(strategy_matrix(jobs))
