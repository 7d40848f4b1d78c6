"""The errors a user can cause, each with its own exit code (cibuildwheel's errors.py is the model)."""

from __future__ import annotations


class ImgbuildError(Exception):
    """Root of every user-facing error: the message is one line naming the cause and the fix."""

    exit_code = 1


class ConfigError(ImgbuildError):
    """Bad matrix.yaml or bad command-line options."""

    exit_code = 2


class NothingSelected(ImgbuildError):
    """The selection matches no variant."""

    exit_code = 2


class DaemonError(ImgbuildError):
    """No Docker daemon, or it refused us."""

    exit_code = 3


class BuildError(ImgbuildError):
    """A Dockerfile step failed."""

    exit_code = 4


class SmokeError(ImgbuildError):
    """The smoke suite failed or could not run."""

    exit_code = 5


class PublishError(ImgbuildError):
    """Push, verification or immutability failed."""

    exit_code = 6


class OutputError(ImgbuildError):
    """A file or folder imgbuild must write cannot be written."""

    exit_code = 8
