"""Resolve a lock: the variant's whole package set with uv's resolver, written as locks/<variant id>.txt; and the
installer's configured index, for a provenance that says what a build used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from ..core.errors import ConfigError, writing
from ..core.paths import new_folder
from ..core.redact import redact
from ..core.variant import Variant
from .lockfile import (
    DEFAULT_INDEX,
    DIGEST_LINE,
    INPUTS_LINE,
    Lock,
    LockInputs,
    lock_command,
    lock_inputs,
    lock_problem,
    read_lock,
)


def write_dir(env: dict[str, str] | None = None) -> Path:
    """Where `imgbuild lock` writes: $IMGBUILD_LOCKS, else ./locks."""
    env = os.environ if env is None else env
    return Path(env.get("IMGBUILD_LOCKS") or "locks")


def resolve(variant: Variant, out_dir: Path, *, find_links: Path | None = None, offline: bool = False) -> Lock:
    """Resolve the variant's whole package set with uv and write out_dir/<variant id>.txt (a folder made for it and
    left empty by a failure is removed)."""
    with writing(out_dir), new_folder(out_dir):
        return _resolve_into(variant, out_dir, find_links, offline)


def lock_all(variants: list[Variant], *, find_links: Path | None = None, offline: bool = False,
             stale_only: bool = False) -> Iterator[Lock]:
    """`imgbuild lock`: resolve each variant's lock into write_dir() (with `stale_only`, only those missing or
    stale), runtime first, since a devel render splits its lock against its runtime sibling's; each as it is
    written."""
    if offline and not find_links:
        raise ConfigError("--offline resolves from --find-links alone: pass --find-links WHEELHOUSE")
    if find_links is not None and not find_links.is_dir():  # uv would say only "No such file or directory"
        raise ConfigError(f"--find-links {str(find_links)[:200]!r} is not a folder: give the folder of wheels "
                          "(`imgbuild wheelhouse --out DIR` makes one)")
    for v in sorted(variants, key=lambda v: (v.flavor != "runtime", v.id)):
        if stale_only and lock_problem(v) is None:
            continue
        yield resolve(v, write_dir(), find_links=find_links, offline=offline)


def resolve_missing(variants: list[Variant], *, find_links: Path | None = None) -> list[Lock]:
    """`imgbuild build`'s rule: a variant without a current lock gets one now, into the folder `imgbuild lock`
    writes (from `find_links` alone when the build takes its wheels from a wheelhouse); runtime before devel, as
    a devel lock shares its runtime sibling's layer. Publishing never comes here: release and push read the locks
    that were there before the run."""
    resolved, seen = [], set()
    for variant in sorted(variants, key=lambda v: (v.flavor != "runtime", v.id)):
        if variant.id in seen or lock_problem(variant) is None:
            continue
        seen.add(variant.id)  # a team image shares its variant's lock
        resolved.append(resolve(variant, write_dir(), find_links=find_links, offline=find_links is not None))
    return resolved


def _resolve_into(variant: Variant, out_dir: Path, find_links: Path | None, offline: bool) -> Lock:
    inputs = lock_inputs(variant)
    source = out_dir / f".{variant.id}.in"
    source.write_text("\n".join(inputs.requirements) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--generate-hashes", "--no-header",
               "--python-version", inputs.python, "--python-platform", inputs.platform, str(source)]
    if inputs.index:
        command += ["--extra-index-url", inputs.index]
    if find_links:
        command += ["--find-links", str(find_links)]
    if offline:
        command += ["--no-index", "--offline"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "UV_NO_CONFIG": "1"})
    except OSError as exc:
        raise ConfigError(f"cannot run uv ({exc}): pip install uv") from None
    finally:
        source.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ConfigError(f"cannot lock {variant.id}: {redact(_uv_failure(result.stderr, inputs))}")
    body = result.stdout.replace(f"-r {source}", "-r requirements").replace(f"-r {source.name}", "-r requirements")
    header = [f"# imgbuild lock of {variant.id}: do not edit; refresh with `{lock_command(variant)}`",
              f"{INPUTS_LINE}{json.dumps(inputs.as_dict(), sort_keys=True)}",
              f"{DIGEST_LINE}{inputs.digest}"]
    path = out_dir / f"{variant.id}.txt"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    tmp.replace(path)
    return read_lock(path, variant.id)


def _uv_failure(stderr: str, inputs: LockInputs) -> str:
    """uv's reason in one line, and the fix that fits it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fetch = next((line for line in lines if "Failed to fetch" in line), None)
    if fetch:
        url = fetch.split("Failed to fetch:", 1)[-1].strip()
        return (f"an index is not reachable ({url}): check the network or the proxy, or resolve from a "
                "wheelhouse with --find-links DIR --offline")
    if "No module named uv" in stderr:
        return "uv is not installed: pip install uv"
    cause = next((line for line in lines if line.startswith(("cause:", "Because"))), lines[-1] if lines else "")
    cause = cause.removeprefix("cause:").strip().rstrip(".")[:400] or "uv failed"
    return f"{cause}: check the matrix's pins (Python {inputs.python}) or the --find-links folder"


def configured_index() -> str:
    """The default index as this machine configures it (PIP_INDEX_URL, UV_DEFAULT_INDEX, pip.conf's index-url),
    for a provenance that says what a build used; DEFAULT_INDEX where nothing overrides the installer's own."""
    url = next((os.environ[name] for name in ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL")
                if os.environ.get(name)), "")
    if not url:
        try:
            found = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                   capture_output=True, text=True, timeout=30)
            url = found.stdout.strip() if found.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            url = ""
    parts = urlsplit(url)
    # A mirror's URL may carry a token: the provenance keeps the host and path only.
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=host).geturl() if url else DEFAULT_INDEX
