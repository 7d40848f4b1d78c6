"""The boundary: a docker or HTTP error from the daemon becomes one DaemonError line, never a traceback."""

from __future__ import annotations

import functools

import docker
import docker.errors
import requests

from ..core.errors import DaemonError, ImgbuildError


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
