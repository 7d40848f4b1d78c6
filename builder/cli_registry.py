"""`imgbuild registry start|stop|status`: the embedded local registry that push and release default to."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from . import localregistry

registry_app = typer.Typer(no_args_is_help=True, help="The local registry (127.0.0.1) that push and release use "
                                                      "when no --registry is given.")


def _engine():
    from .engine import Engine

    return Engine(timeout=60)


def _describe(reg: localregistry.LocalRegistry, up: bool) -> str:
    how = "the registry:2 image (container imgbuild-registry)" if reg.backend == "container" else reg.backend
    state = "running" if up else "stopped"
    return (f"local registry: {state} at {reg.address} (push there with --registry {reg.target})\n"
            f"  runs: {how}\n  data: {reg.data}")


@registry_app.command("start")
def start_cmd(
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65535,
                                                help=f"port on 127.0.0.1 [default: {localregistry.DEFAULT_PORT}]")] = None,
) -> None:
    """Start the local registry (a no-op when it already runs); its storage survives stop and restart."""
    reg = localregistry.ensure_running(_engine, port)
    print(_describe(reg, True))


@registry_app.command("stop")
def stop_cmd() -> None:
    """Stop the local registry; its images stay in its data folder for the next start."""
    reg = localregistry.stop(_engine)
    print("local registry: none was started" if reg is None else f"local registry stopped; data kept in {reg.data}")


@registry_app.command("status")
def status_cmd() -> None:
    """Say whether the local registry runs, how, where it listens and where its data lives."""
    reg, up = localregistry.status()
    if reg is None:
        print(f"local registry: never started (data folder {localregistry.data_dir()}): imgbuild registry start")
        raise typer.Exit(1)
    print(_describe(reg, up))
    raise typer.Exit(0 if up else 1)
