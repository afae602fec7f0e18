#!/usr/bin/env bash
# Make a local Debian bookworm base image (python3 + venv + CA certificates) with debootstrap and `podman import`
# it, for machines that cannot pull from a registry. The image plays the role of python:3.11-slim in the
# Dockerfile (`--build-arg BASE=localhost/genozoo-base:bookworm`). Needs root, debootstrap and podman.
#   docker/make-base.sh [IMAGE]        (default localhost/genozoo-base:bookworm; kept if it exists)
set -euo pipefail
IMAGE=${1:-localhost/genozoo-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if podman image exists "$IMAGE"; then
    echo "base image $IMAGE exists; remove it (podman rmi $IMAGE) to rebuild"
    exit 0
fi
ROOTFS=$(mktemp -d /var/tmp/genozoo-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "debootstrap bookworm into $ROOTFS (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" "$MIRROR" \
    > "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
# pip and apt on this machine may go through a proxy with its own CA: give the image the host's bundle.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi
# pip inside builds: trust that bundle, and look for wheels in /wheels, where docker/smoke.sh mounts the folder
# holding the local torch CPU wheel (so no CUDA build is downloaded). Without the mount pip just skips it.
cat > "$ROOTFS/etc/pip.conf" <<'CONF'
[global]
cert = /etc/ssl/certs/ca-certificates.crt
find-links = /wheels
CONF
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | podman import --change 'CMD ["/bin/bash"]' - "$IMAGE"
echo "imported $IMAGE"
