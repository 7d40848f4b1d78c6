"""The one writer of a GitHub Actions strategy.matrix (`imgbuild matrix --github` and every `imgbuild plan` view)
and the fields every job of it starts with."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from ..core.variant import Variant


def job_of(variant: Variant, **more: object) -> dict[str, object]:
    """One job: what it releases (the variant, its torch, CUDA, flavor and Python), then `more`, in that order."""
    return {"variant": variant.id, "torch": variant.torch, "cuda": variant.cuda, "flavor": variant.flavor,
            "python": variant.python, **more}


def needs_gpu(variant: Variant) -> str:
    """The job's `gpu` field: "yes" for a CUDA variant."""
    return "no" if variant.is_cpu else "yes"


def strategy_matrix(jobs: Iterable[Mapping[str, object]]) -> str:
    """{"include": [job, ...]} on one line, as a workflow's fromJSON() reads it from a step's output."""
    return json.dumps({"include": list(jobs)}, separators=(",", ":"))


def variants_matrix(variants: Iterable[Variant]) -> str:
    """`imgbuild matrix --github`: one job per variant, `gpu` picking its runner (self-hosted `gpu` or hosted)."""
    return strategy_matrix(job_of(v, gpu=needs_gpu(v)) for v in variants)
