#!/usr/bin/env bash
# Run linux/arm64 programs on an amd64 host (idempotent; run as root): Debian's qemu-user-static registers its
# binfmt handler with the F flag, so the kernel finds the emulator inside containers and debootstrap's chroot too.
# For `imgbuild base --platform linux/arm64` and emulated builds and tests (bench/arm64.py); the nightly builds
# each platform natively instead (docs/platforms.md).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root: sudo bash $0" >&2; exit 1; }
[ "$(uname -m)" = aarch64 ] && { echo "this host is arm64 already: nothing to emulate"; exit 0; }
need=()
for pkg in qemu-user-static binfmt-support debootstrap; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true
handler=/proc/sys/fs/binfmt_misc/qemu-aarch64
grep -q '^flags:.*F' "$handler" 2>/dev/null \
  || { echo "qemu-aarch64 is not registered with the F flag ($handler): containers cannot find the emulator" >&2; exit 1; }
echo "linux/arm64: $(head -1 "$handler"), $(grep '^interpreter' "$handler")"
