"""The image contract's fixed values, which the Dockerfile and the checks of a base image both need."""

from __future__ import annotations

USER, UID = "ml", 1000  # the image's non-root user, in group 0 (so an arbitrary --user UID:0 works too)

# The time on every file imgbuild puts in an image (1980-01-01, the earliest a zip can say): no layer depends on the
# day it was built (render/dockerfile.py's steps, the build contexts' files).
FIXED_MTIME = 315532800
