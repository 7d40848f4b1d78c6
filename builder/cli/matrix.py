"""`imgbuild init`, `imgbuild matrix` and `imgbuild plan`: what the matrix builds, as tables and as CI's matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.measure import Measurement
from rich.table import Table

from ..core import tags
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
    if github:
        from ..plan.github import variants_matrix

        out.data(variants_matrix(variants))
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
    from ..plan.nightly import Runners, plan_view

    out = output(ctx)
    view = plan_view(select.variants(), Runners.parse(runners), chunk_size, show_layout=show_layout, chunk=chunk,
                     gpu_jobs=gpu_jobs, join_jobs=join_jobs)
    if view.not_locked:
        out.info(view.not_locked)
    out.data(view.text)
