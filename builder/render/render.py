"""Variant -> BuildContext, for either kind of image: each kind has its writer, chosen here by kind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..core.errors import ConfigError, OutputError
from ..core.paths import new_folder
from ..core.variant import Standard, Team, Variant
from .context import STAGING, BuildContext, replaceable
from .standard import render_standard
from .team import render_team

# Each kind's writer, handed the kind itself (typed as its own class) and the variant.
WRITERS: dict[type, Callable[..., BuildContext]] = {Standard: render_standard, Team: render_team}


def render(variant: Variant, out: Path, *, unlocked: bool = False) -> BuildContext:
    """Write one build context to out/<image name>/ (the variant id; a team's image: <team>-<variant id>)."""
    return WRITERS[type(variant.kind)](variant.kind, variant, out, unlocked=unlocked)


def _render_staged(variants: list[Variant], out: Path, unlocked: bool) -> list[BuildContext]:
    """Each context is written in a hidden staging folder and moved into place whole; interrupted (Ctrl-C,
    SIGTERM) or failed, the run takes back every context it added, and no half-written one is left."""
    staging, added, done = out / f"{STAGING}{os.getpid()}", [], []
    try:
        for v in variants:
            ctx, final = render(v, staging, unlocked=unlocked), out / v.name
            if final.exists():
                shutil.rmtree(final)  # an earlier render of imgbuild's own (checked above)
            else:
                added.append(final)
            ctx.path.rename(final)
            done.append(replace(ctx, path=final))
        return done
    except BaseException:
        for path in added:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def render_all(variants: list[Variant], out: Path, *, force: bool = False, unlocked: bool = False) -> list[BuildContext]:
    """Render every variant into `out`, which must be empty or hold only earlier renders unless forced.

    A folder that cannot be written (in /proc, under a file, read-only, disk full) is one OutputError line."""
    ids = {v.name for v in variants}
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file: pass --out a folder")
        if out.exists() and not force:
            strangers = sorted(p.name for p in out.iterdir() if p.name not in ids and not p.name.startswith(STAGING))
            if strangers:
                raise ConfigError(f"{out} holds other files ({', '.join(strangers[:3])}"
                                  f"{', ...' if len(strangers) > 3 else ''}): pick an empty --out or pass --force")
        for v in variants:  # a user's folder in the way is refused before anything is written
            replaceable(out / v.name)
        with new_folder(out):
            return _render_staged(variants, out, unlocked)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(out) else ""
        raise OutputError(f"cannot write build contexts into {out}{where}: {exc.strerror or exc}: "
                          "pass --out a folder you can write") from None
