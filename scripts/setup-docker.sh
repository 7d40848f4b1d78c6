#!/usr/bin/env bash
# Install and start a Docker engine (idempotent): docker.io from Debian, host-only networking.
set -euo pipefail
if ! command -v dockerd >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if docker info >/dev/null 2>&1; then
  echo "dockerd: already running"; exit 0
fi
# --bridge=none: containers never get a private-range address; builds and runs use the host network.
nohup dockerd --bridge=none --iptables=false >/tmp/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { echo "dockerd: started"; exit 0; }
  sleep 1
done
echo "dockerd did not start; see /tmp/dockerd.log" >&2; tail -20 /tmp/dockerd.log >&2; exit 1
