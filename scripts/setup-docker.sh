#!/usr/bin/env bash
# Install and start a Docker engine with BuildKit (idempotent), the engine users have: Docker 25 or newer, the
# buildx plugin, the containerd image store, host-only networking.
#   - A running engine of 25+ with buildx is used as it is.
#   - Otherwise dockerd 25+ from this host's apt sources (Debian 13, Ubuntu 24.04); on a host whose sources carry an
#     older one (Debian 12: 20.10), Debian 13's docker.io, docker-buildx and containerd are unpacked into
#     $IMGBUILD_ENGINE_PREFIX (default /opt/imgbuild-engine) with their own apt lists, so the host's apt, libc and
#     systemd stay as they are; they run with the host's own runc (Debian 13's needs a newer glibc).
#   - An older engine that this script (or a hand) started without systemd is stopped and replaced; one that systemd
#     manages is left alone, with the line that says how to upgrade it.
set -euo pipefail
PREFIX=${IMGBUILD_ENGINE_PREFIX:-/opt/imgbuild-engine}
MIN_MAJOR=25
LOG=${IMGBUILD_DOCKERD_LOG:-/tmp/dockerd.log}
say() { echo "setup-docker: $*"; }
die() { echo "setup-docker: error: $*" >&2; exit 1; }
major() { local v=${1#*:}; echo "${v%%.*}"; }  # "26.1.5+dfsg1" -> 26, "5:27.3.1-1" -> 27
engine_version() { docker version --format '{{.Server.Version}}' 2>/dev/null || true; }

plugin_dir=/usr/local/lib/docker/cli-plugins  # searched by every docker CLI, whoever installed it
has_buildx() { docker buildx version >/dev/null 2>&1; }

# An unpacked engine's programs on PATH (dockerd, containerd and its shims, the CLI where none is), beside the host's.
link_programs() {
  local program
  for program in "$PREFIX"/usr/sbin/* "$PREFIX"/usr/bin/*; do
    if [ -x "$program" ] && ! command -v "$(basename "$program")" >/dev/null 2>&1; then
      ln -s "$program" /usr/local/bin/
    fi
  done
}
link_programs

running=$(engine_version)
if [ -n "$running" ] && [ "$(major "$running")" -ge "$MIN_MAJOR" ] && has_buildx; then
  say "Docker $running with $(docker buildx version | cut -d' ' -f1-2) already running"; exit 0
fi
if [ -n "$running" ] && [ "$(major "$running")" -lt "$MIN_MAJOR" ]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    die "Docker $running (systemd's docker.service) is older than $MIN_MAJOR: upgrade it (https://docs.docker.com/engine/install/) or stop it (systemctl stop docker) and run this again"
  fi
  say "stopping Docker $running (older than $MIN_MAJOR; no BuildKit image store)"
  pid=$(cat /var/run/docker.pid 2>/dev/null || pgrep -xo dockerd || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do [ -z "$(engine_version)" ] && break; sleep 1; done
fi

apt_candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p'; }
dockerd_bin=$(command -v dockerd || true)
if [ -n "$dockerd_bin" ] && [ "$(major "$("$dockerd_bin" --version | sed 's/Docker version \([0-9.]*\).*/\1/')")" -ge "$MIN_MAJOR" ]; then
  say "using $dockerd_bin ($("$dockerd_bin" --version))"
elif [ -x "$PREFIX/usr/sbin/dockerd" ]; then
  dockerd_bin=$PREFIX/usr/sbin/dockerd
  say "using $dockerd_bin (unpacked earlier)"
else
  apt-get update -qq
  candidate=$(apt_candidate docker.io)
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && [ "$(major "$candidate")" -ge "$MIN_MAJOR" ]; then
    say "installing docker.io $candidate and docker-buildx from this host's apt sources"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-buildx >/dev/null
    dockerd_bin=$(command -v dockerd)
  else
    # Debian 12: its docker.io is 20.10. Debian 13's packages, from this host's own Debian mirror.
    mirror=$(sed -n 's/^URIs: *\(\S*debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(\S*debian\)\/\{0,1\} .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)
    [ -n "$mirror" ] || die "no Debian mirror in this host's apt sources (docker.io $candidate is older than $MIN_MAJOR): install Docker $MIN_MAJOR+ (https://docs.docker.com/engine/install/)"
    say "this host's docker.io is ${candidate:-missing}: unpacking Debian 13's docker.io, docker-buildx and containerd into $PREFIX"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc iptables >/dev/null  # the host's runc
    apt_dir=$PREFIX/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$apt_dir/sources.list"
    apt_trixie=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    apt-get "${apt_trixie[@]}" update -qq
    packages=(docker.io docker-buildx containerd tini)  # tini: docker-init, for `docker run --init`
    command -v docker >/dev/null 2>&1 || packages+=(docker-cli)
    (cd "$apt_dir/debs" && apt-get "${apt_trixie[@]}" download -qq "${packages[@]}")
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$PREFIX"; done
    rm -rf "$apt_dir/debs" "$apt_dir/cache"
    dockerd_bin=$PREFIX/usr/sbin/dockerd
  fi
fi

link_programs
if ! has_buildx; then
  for plugin in "$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" /usr/libexec/docker/cli-plugins/docker-buildx; do
    [ -x "$plugin" ] && { mkdir -p "$plugin_dir"; ln -sf "$plugin" "$plugin_dir/docker-buildx"; break; }
  done
fi
has_buildx || die "the docker buildx plugin is missing: install docker-buildx (apt) or docker-buildx-plugin (Docker's apt repository)"

# containerd decompresses layers with unpigz where it finds one when it starts (gzip's reader is one core otherwise).
command -v unpigz >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pigz >/dev/null 2>&1 || true

# The containerd image store: BuildKit's images (zstd, attestations, indexes) kept as they are.
config=$PREFIX/daemon.json
mkdir -p "$PREFIX"
echo '{"features": {"containerd-snapshotter": true}}' >"$config"
# --bridge=none: containers never get a private-range address; builds and runs use the host network.
PATH="$(dirname "$dockerd_bin"):$PREFIX/usr/bin:$PATH" \
  nohup "$dockerd_bin" --config-file "$config" --bridge=none --iptables=false </dev/null >"$LOG" 2>&1 &
for _ in $(seq 1 60); do
  version=$(engine_version)
  if [ -n "$version" ]; then
    say "Docker $version started, $(docker buildx version | cut -d' ' -f1-2), image store: $(docker info --format '{{.DriverStatus}}' 2>/dev/null)"
    exit 0
  fi
  sleep 1
done
tail -20 "$LOG" >&2
die "dockerd did not start: see $LOG"
