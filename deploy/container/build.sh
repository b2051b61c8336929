#!/bin/sh
# Build the modelhub image with podman, on a Debian base made here from Debian packages when no registry is
# reachable (debootstrap minbase + podman import), then check it: /health 200, a model registered, loaded and
# served, a clean stop on SIGTERM. Needs: apt-get install podman debootstrap runc (run as root).
#
#   deploy/container/build.sh            build (base made once, kept in podman's store) and check
#   NO_CHECK=1 deploy/container/build.sh build only
#   BASE=docker.io/library/debian:bookworm-slim deploy/container/build.sh   use a registry's base instead
#
# PODMAN_OPTS: options for every podman command. The default suits the sandboxed VMs this project runs on:
# runc (crun refuses their hybrid cgroup layout: "cgroups in hybrid mode not supported") and resource limits no
# higher than the VM's own (podman's defaults, nofile and nproc at 1048576, are refused: "setrlimit: Operation
# not permitted").
set -eu
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-localhost/modelhub:latest}
LOCAL_BASE=localhost/debian-bookworm-minbase:local
BASE=${BASE:-$LOCAL_BASE}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN_OPTS=${PODMAN_OPTS:---runtime runc}
LIMITS=${LIMITS:---ulimit nofile=16384:16384 --ulimit nproc=8192:8192}
podman() { command podman $PODMAN_OPTS "$@"; }

if [ "$BASE" = "$LOCAL_BASE" ] && ! podman image exists "$LOCAL_BASE"; then
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    echo "== base: debootstrap --variant=minbase bookworm from $MIRROR"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" > "$rootfs.log" 2>&1 \
        || { tail -20 "$rootfs.log"; exit 1; }
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | podman import --message "debootstrap --variant=minbase bookworm" - "$LOCAL_BASE"
    rm -rf "$rootfs"
    trap - EXIT
fi

# The CA bundle this host's pip trusts (PIP_CERT, or HOST_CA), for an egress proxy that re-signs TLS.
HOST_CA=${HOST_CA:-${PIP_CERT:-}}
CA_OPTS=""
[ -n "$HOST_CA" ] && CA_OPTS="--volume $HOST_CA:/run/build-ca.crt:ro --build-arg EXTRA_CA_CERT=/run/build-ca.crt"

echo "== podman build $IMAGE (base $BASE)"
started=$(date +%s)
# shellcheck disable=SC2086
# docker format: the OCI image format has no HEALTHCHECK (podman drops it with a warning).
podman build --format docker $LIMITS $CA_OPTS --network host --build-arg "BASE=$BASE" -t "$IMAGE" -f Containerfile .
echo "== built in $(( $(date +%s) - started )) s: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"

[ -n "${NO_CHECK:-}" ] && exit 0
# shellcheck disable=SC2086
exec "${PYTHON:-.venv/bin/python}" deploy/container/check.py --image "$IMAGE" --podman "podman $PODMAN_OPTS" --run-options "$LIMITS"
