#!/usr/bin/env bash
# Make local/debian:bookworm from Debian's packages (nothing can be pulled here); the rootfs tarball is cached.
set -euo pipefail
CACHE=${IMGBUILD_CI_CACHE:-/var/cache/imgbuild-ci}
IMAGE=${1:-local/debian:bookworm}
mkdir -p "$CACHE"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then echo "base image: $IMAGE present"; exit 0; fi
TARBALL=$CACHE/debian-bookworm-rootfs.tar
if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  # The mirror comes from this machine's own apt sources, never a hard-coded host.
  MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$MIRROR" ] || MIRROR=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
  ROOTFS=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/tmp/debootstrap.log 2>&1
  # Keep the image's apt pointed at the same mirror with the updates and security suites.
  tar -C "$ROOTFS" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$ROOTFS"
fi
docker import "$TARBALL" "$IMAGE" >/dev/null
echo "base image: $IMAGE imported"
