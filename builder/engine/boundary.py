"""The boundary: a docker or HTTP error from the daemon becomes one DaemonError line, never a traceback."""

from __future__ import annotations

import functools

import docker
import docker.errors
import requests

from ..core.errors import DaemonError, ImgbuildError
from ..core.shown import cut


def daemon_errors(method):
    """The boundary: a docker or HTTP error from the daemon becomes one DaemonError line, never a traceback."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except ImgbuildError:
            raise
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise DaemonError(f"the Docker daemon failed a request ({method.__name__}: {short(exc)}): "
                              "check `docker info` and the daemon's log, then re-run") from None
    return wrapper


def short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def failed_step(step: str, said: list[str], log_name: str) -> str:
    """One line for a failed build, whichever builder: the step and the last three lines it printed."""
    tail = " | ".join(line.strip()[:200] for line in said[-3:]) or "no output"
    return f"build failed at {cut(step, 80)}: {tail} (full log: {log_name})"
