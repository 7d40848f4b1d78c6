#!/usr/bin/env bash
# The tests' base image, made the way a user makes one where Docker Hub cannot be reached: `imgbuild base`
# (debootstrap from this machine's own apt sources; its rootfs tarball is cached under $IMGBUILD_CI_CACHE).
set -euo pipefail
IMAGE=${1:-local/debian:bookworm}
SUITE=${2:-}  # default: the host's own release
XDG_CACHE_HOME=${IMGBUILD_CI_CACHE:-/var/cache/imgbuild-ci} imgbuild base --tag "$IMAGE" ${SUITE:+--suite "$SUITE"}
