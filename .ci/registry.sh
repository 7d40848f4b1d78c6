#!/usr/bin/env bash
# Install a real registry and its tools from Debian (idempotent): docker-registry (CNCF Distribution 2.8),
# htpasswd (bcrypt password files for the registry's auth) and skopeo (inspects/copies images without a daemon).
set -euo pipefail
missing=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
if [ ${#missing[@]} -eq 0 ]; then
  echo "registry tools: present"; exit 0
fi
apt-get update -qq
# No recommends: only the binaries are needed; tests write their own config and run their own registry.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "registry tools: installed ${missing[*]}"
