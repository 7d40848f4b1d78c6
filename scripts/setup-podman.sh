#!/usr/bin/env bash
# Rootless Podman as imgbuild's engine, for one user (idempotent; run as root): Debian's packages, subordinate ids,
# overlay storage through fuse-overlayfs, the local registry as a plain-HTTP loopback registry, and Podman's
# Docker-compatible API socket. Prints the DOCKER_HOST that points imgbuild at it (docs/restricted.md).
# Usage: setup-podman.sh [USER [REGISTRY...]]: more plain-HTTP loopback registries than imgbuild's 127.0.0.1:5000.
set -euo pipefail
user=${1:-imgbuild-podman}
registries=(127.0.0.1:5000 "${@:2}")
[ "$(id -u)" = 0 ] || { echo "run as root: sudo bash $0 $user" >&2; exit 1; }
need=()
for pkg in podman uidmap fuse-overlayfs slirp4netns; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
# 65536 ids above every range already given out: rootless containers map their users (12345 included) into them.
for file in /etc/subuid /etc/subgid; do
  touch "$file"
  if ! grep -q "^$user:" "$file"; then
    start=$(awk -F: 'BEGIN {top = 100000} {if ($2 + $3 > top) top = $2 + $3} END {print top}' "$file")
    echo "$user:$start:65536" >> "$file"
  fi
done
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
run=/run/user/$uid
install -d -o "$user" -m 700 "$run"
install -d -o "$user" "$run/podman" "$home/.config" "$home/.config/containers"
# The default vfs driver copies every layer in full; overlay through fuse-overlayfs shares them.
cat > "$home/.config/containers/storage.conf" <<'CONF'
[storage]
driver = "overlay"
[storage.options.overlay]
mount_program = "/usr/bin/fuse-overlayfs"
CONF
# imgbuild's local registry speaks plain HTTP on loopback (Docker trusts loopback on its own; Podman must be told).
conf=$home/.config/containers/registries.conf
for registry in "${registries[@]}"; do
  case $registry in 127.0.0.1:*|localhost:*|\[::1\]:*) ;; *) echo "not a loopback registry: $registry" >&2; exit 1;; esac
  printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry"
done > "$conf.new"
changed=0
cmp -s "$conf.new" "$conf" || changed=1
mv "$conf.new" "$conf"
chown "$user" "$home/.config/containers/storage.conf" "$conf"
socket=$run/podman/podman.sock
as_user() { runuser -u "$user" -- env XDG_RUNTIME_DIR="$run" HOME="$home" "$@"; }
# A running service read registries.conf when it started: restart it to take a changed one.
if [ "$changed" = 1 ] && pkill -u "$user" -f "podman system service" 2>/dev/null; then
  for _ in $(seq 1 30); do
    pgrep -u "$user" -f "podman system service" >/dev/null || break
    sleep 1
  done
fi
if ! as_user podman --remote --url "unix://$socket" version >/dev/null 2>&1; then
  # Podman keeps its user namespace in a pause process and marks /run/user/UID as set up; when the processes are
  # killed without a reboot clearing /run (a session or CI job ending), every podman command then fails with
  # "invalid internal status". With none of the user's processes left, migrate resets that state safely.
  pgrep -u "$user" >/dev/null || as_user podman system migrate >/dev/null 2>&1 || true
  # Not through as_user: a shell function's redirections keep the caller's stdout open in a saved descriptor, and a
  # caller that reads this script's output would wait on the service for ever.
  (cd / && exec runuser -u "$user" -- env XDG_RUNTIME_DIR="$run" HOME="$home" setsid podman system service \
    --time=0 "unix://$socket" >"$run/podman-service.log" 2>&1 </dev/null) &
  for _ in $(seq 1 30); do
    as_user podman --remote --url "unix://$socket" version >/dev/null 2>&1 && break
    sleep 1
  done
fi
as_user podman --remote --url "unix://$socket" version >/dev/null 2>&1 \
  || { echo "podman system service did not start: $(tail -n 1 "$run/podman-service.log" 2>/dev/null)" \
          "(whole log: $run/podman-service.log)" >&2; exit 1; }
echo "unix://$socket"
