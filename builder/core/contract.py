"""The image contract's fixed values, which the Dockerfile and the checks of a base image both need."""

from __future__ import annotations

USER, UID = "ml", 1000  # the image's non-root user, in group 0 (so an arbitrary --user UID:0 works too)
