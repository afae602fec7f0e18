#!/usr/bin/env bash
# `make docker-smoke`: build the image with podman from a locally made Debian base, run the space in it, predict
# through gradio_client, run a CLI command, and stop it with SIGTERM. Skips (exit 0, with the reason) only where
# podman is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
need=(podman buildah runc debootstrap)
missing=()
for tool in "${need[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "docker-smoke: installing ${missing[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc debootstrap >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc debootstrap >/dev/null; } \
        || true
fi
for tool in "${need[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "docker-smoke: SKIPPED: $tool is not installed and cannot be installed here (needs root and apt-get:" \
             "apt-get install podman buildah runc debootstrap)"
        exit 0
    fi
done
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/containers.conf}
exec "$PY" docker/smoke.py "$@"
