#!/usr/bin/env bash
# The main job on a fresh machine (Debian or Ubuntu, as root): install what is missing (a Docker engine,
# debootstrap, a Distribution registry binary, imgbuild itself), make a base image when the matrix's cannot be
# pulled, lock the selection where the repo has no lock yet, start the local registry, then build, smoke-test and
# push torch 2.6 / CUDA 12.4.
# Idempotent: a second run reuses the engine, the venv, the base image, the layer cache and the registry.
#   QUICKSTART_TORCH, QUICKSTART_CUDA  the selection (default 2.6 and 12.4)
#   IMGBUILD_HOME                      where imgbuild's venv goes (default ~/.local/share/imgbuild)
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH=${QUICKSTART_TORCH:-2.6}
CUDA=${QUICKSTART_CUDA:-12.4}
VENV=${IMGBUILD_HOME:-$HOME/.local/share/imgbuild}/venv
started=$(date +%s)
say() { echo "== [$(( $(date +%s) - started ))s] $*"; }

[ "$(id -u)" = 0 ] || { echo "quickstart: run it as root (it installs packages and starts dockerd): sudo $0" >&2; exit 1; }

say "system packages"
need=()
for pkg in debootstrap docker-registry python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

say "docker engine (25+ with BuildKit)"
bash scripts/setup-docker.sh

say "imgbuild into $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check .
export PATH="$VENV/bin:$PATH"
imgbuild --version

# The matrix's base image, or one made from this host's apt sources when it cannot be pulled here.
variant_field() { imgbuild matrix --torch "$TORCH" --cuda "$CUDA" --flavor runtime --json |
  python3 -c "import json, sys; print(json.load(sys.stdin)['variants'][0]['$1'])"; }
default_base=$(variant_field base_image)
build_args=()
if docker image inspect "$default_base" >/dev/null 2>&1 || docker pull -q "$default_base" >/dev/null 2>&1; then
  say "base image $default_base"
else
  . /etc/os-release
  base="local/$ID:$VERSION_CODENAME"
  say "$default_base cannot be pulled here: making $base from this host's apt sources"
  imgbuild base --tag "$base"
  build_args+=(--base-image "$base")
  # The base's own python3 serves the venv; another Python would be a standalone download from GitHub.
  python=$(docker image inspect -f '{{ index .Config.Labels "io.imgbuild.base.python" }}' "$base")
  # a base made before imgbuild labelled bases: it came from these apt sources, so ask apt
  [ -n "$python" ] && [ "$python" != "<no value>" ] ||
    python=$(apt-cache policy python3 | sed -n 's/.*Candidate: \([0-9]*:\)\{0,1\}\([0-9]*\.[0-9]*\).*/\2/p')
  if [ -n "$python" ] && [ "$python" != "$(variant_field python)" ]; then
    say "using Python $python (the base's) instead of the matrix's default $(variant_field python)"
    build_args+=(--python "$python")
  fi
fi
# The image trusts what this host trusts (a corporate TLS proxy re-signs PyPI's certificates).
[ -f /etc/ssl/certs/ca-certificates.crt ] && build_args+=(--ca-cert /etc/ssl/certs/ca-certificates.crt)

# Builds install exactly a reviewed lock (locks/); resolve one here only where the repo has none yet.
lock_args=(--torch "$TORCH" --cuda "$CUDA")
for ((i = 0; i < ${#build_args[@]}; i++)); do
  [ "${build_args[$i]}" = --python ] && lock_args+=(--python "${build_args[$((i + 1))]}")
done
say "locks: imgbuild lock --stale-only ${lock_args[*]}"
imgbuild lock --stale-only "${lock_args[@]}"

say "local registry"
imgbuild registry start

say "imgbuild release --torch $TORCH --cuda $CUDA ${build_args[*]}"
imgbuild release --torch "$TORCH" --cuda "$CUDA" "${build_args[@]}" --out release
say "done in $(( $(date +%s) - started ))s: release/release.json and release/TAGS.md list every tag and digest"
