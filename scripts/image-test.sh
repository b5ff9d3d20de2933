#!/usr/bin/env bash
# make image-test: builds the image and runs it, on this machine, without a registry.
#
# No registry is reachable from our machines, but Debian's packages are: this installs
# docker.io and debootstrap, starts a private dockerd (its own socket, no bridge, no
# iptables, host networking), makes a stand-in for the pinned python:slim base — Debian
# bookworm with python3, venv, pip and the host's CA bundle — imports it under the base's
# name, builds the Dockerfile, runs the image, and checks /healthz, the user the process
# runs as, and the HEALTHCHECK. Everything it starts is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
IMAGE=codedeploy-gateway:image-test
PORT=${IMAGE_TEST_PORT:-18080}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/codedeploy-gateway
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || { echo "image-test needs root (apt-get, dockerd)"; exit 1; }
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi

work=$(mktemp -d /tmp/image-test.XXXXXX)
export DOCKER_HOST="unix://$work/docker.sock"
cleanup() {
  docker rm -f image-test >/dev/null 2>&1 || true
  if [ -f "$work/dockerd.pid" ]; then
    pid=$(cat "$work/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  # dockerd leaves its network namespace mounted under the exec root.
  awk -v root="$work" '$2 ~ "^"root {print $2}' /proc/mounts | sort -r | xargs -r umount 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

dockerd --host "$DOCKER_HOST" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/dockerd.pid" --bridge=none --iptables=false --ip6tables=false \
  >"$work/dockerd.log" 2>&1 &
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
docker info >/dev/null 2>&1 || { cat "$work/dockerd.log"; echo "dockerd did not start"; exit 1; }

# The stand-in base, debootstrapped once and kept in the cache.
mkdir -p "$CACHE"
if [ ! -f "$CACHE/bookworm-python.tar" ]; then
  echo "debootstrapping the stand-in base (once; cached in $CACHE)"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb
  tar -C "$work/rootfs" -cf "$CACHE/bookworm-python.tar.partial" .
  mv "$CACHE/bookworm-python.tar.partial" "$CACHE/bookworm-python.tar"
fi
docker import "$CACHE/bookworm-python.tar" "$BASE" >/dev/null

docker build --network host --tag "$IMAGE" . >"$work/build.log" 2>&1 \
  || { tail -40 "$work/build.log"; exit 1; }
docker run --detach --network host --name image-test -e GATEWAY_PORT="$PORT" "$IMAGE" --local >/dev/null

ok=""
for _ in $(seq 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/healthz', timeout=1)" 2>/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { docker logs image-test; echo "FAIL: /healthz did not answer"; exit 1; }
echo "ok: /healthz answers on :$PORT"

uid=$(docker exec image-test python -c "import os; print(os.getuid())")
[ "$uid" = 10001 ] || { echo "FAIL: runs as uid $uid, not 10001"; exit 1; }
echo "ok: the process runs as uid $uid"

healthcheck=$(docker inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
case "$healthcheck" in
  '["CMD","python","-c",'*healthz*) echo "ok: exec-form HEALTHCHECK on /healthz" ;;
  *) echo "FAIL: HEALTHCHECK is $healthcheck"; exit 1 ;;
esac
for _ in $(seq 60); do
  status=$(docker inspect --format '{{.State.Health.Status}}' image-test)
  [ "$status" = healthy ] && break
  sleep 1
done
[ "$status" = healthy ] || { echo "FAIL: health status $status"; exit 1; }
echo "ok: docker reports the container healthy"
