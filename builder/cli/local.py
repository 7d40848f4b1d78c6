"""Commands that set up a machine: `imgbuild base` (a base image from the host's apt sources) and
`imgbuild registry start|stop|status` (the embedded local registry that push and release default to)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..core.paths import LOCAL_REGISTRY_PORT
from .options import matrix_named, output

if TYPE_CHECKING:  # registry/local.py imports requests: imported when a command runs, so `--help` stays fast
    from ..registry.local import LocalRegistry


def _engine():
    from ..engine.daemon import Engine

    return Engine(timeout=60)


def _describe(reg: LocalRegistry, up: bool) -> str:
    how = "the registry:2 image (container imgbuild-registry)" if reg.backend == "container" else reg.backend
    state = "running" if up else "stopped"
    return (f"local registry: {state} at {reg.address} (push there with --registry {reg.target})\n"
            f"  runs: {how}\n  data: {reg.data}")


def start_cmd(
    ctx: typer.Context,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535,
                                                help=f"port on 127.0.0.1 [default: {LOCAL_REGISTRY_PORT}]")] = None,
) -> None:
    """Start the local registry (a no-op when it already runs); its storage survives stop and restart."""
    from ..registry import local as localregistry

    reg = localregistry.ensure_running(_engine, port)
    output(ctx).result(_describe(reg, True))


def stop_cmd(ctx: typer.Context) -> None:
    """Stop the local registry; its images stay in its data folder for the next start."""
    from ..registry import local as localregistry

    _, up = localregistry.status()
    reg = localregistry.stop(_engine)
    if reg is None:
        output(ctx).result("local registry: none was started")
    else:  # one started earlier may have ended on its own (a reboot): then nothing was stopped now
        output(ctx).result(f"local registry {'stopped' if up else 'was not running'}; data kept in {reg.data}")


def status_cmd(ctx: typer.Context) -> None:
    """Say whether the local registry runs, how, where it listens and where its data lives."""
    from ..registry import local as localregistry

    reg, up = localregistry.status()
    if reg is None:
        output(ctx).result(f"local registry: never started (data folder {localregistry.data_dir()}): "
                           "imgbuild registry start")
        raise typer.Exit(1)
    output(ctx).result(_describe(reg, up))
    raise typer.Exit(0 if up else 1)


def base_cmd(
    ctx: typer.Context,
    tag: Annotated[Optional[str], typer.Option("--tag", help="image to make [default: local/DISTRO:SUITE]")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", help="release to bootstrap [default: the host's]")] = None,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="apt mirror URL [default: the host's]")] = None,
    force: Annotated[bool, typer.Option("--force", help="make it again even if the image exists")] = False,
    target: Annotated[Optional[str], typer.Option("--platform", help="linux/amd64 or linux/arm64 (under qemu) "
                                                                     "[default: linux/amd64]")] = None,
) -> None:
    """Make a base image from this host's apt sources (debootstrap) and print the --base-image to pass."""
    from ..core.platform import DEFAULT_PLATFORM, parse_platform, platform
    from ..host.base import make_host_base

    chosen = parse_platform(target, all_too=False) if target else DEFAULT_PLATFORM
    out = output(ctx)
    base = make_host_base(_engine(), tag, suite=suite, mirror=mirror, force=force, log=out.result, target=chosen)
    source, suffix = base.source, platform(chosen).id_suffix
    out.result(f"base image {base.ref}: {'made from ' + source.mirror if base.made else 'present'}"
               + (f"; its python3 is {base.python}: pass --python {base.python} where the matrix's default Python "
                  "differs" if base.python else ""))
    default = matrix_named(None).file.defaults.base_image
    if not default.startswith(f"{source.distro}:"):
        out.result(f"note: the matrix builds on {default}; this host's apt sources give {source.distro} {source.suite}, "
                   "so images built on it carry that distribution and its python3")
    out.result(f"use it: imgbuild build --base-image {base.ref}{' --platform ' + chosen if suffix else ''} ...   "
               "(or release, render)")


REGISTRY_HELP = "The local registry (127.0.0.1) that push and release use when no --registry is given."
REGISTRY_COMMANDS = (("start", start_cmd), ("stop", stop_cmd), ("status", status_cmd))
