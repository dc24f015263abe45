#!/usr/bin/env bash
# The container engine for `make image` / the containerised tests: Debian's dockerd, installed when missing
# and started when no daemon answers. Idempotent: a second call finds both done and returns at once.
#
# Why these dockerd flags: the machines this project runs on (CI included) have no iptables rules to manage
# and no bridge to create, so networking is off (--bridge=none) and builds / containers use the host's
# network (--network host); overlay2 is dockerd's default and works on ext4.
#   MTST_DOCKER_ROOT   data root (images, layers, build cache; default /var/lib/docker): put it on a disk with
#                      space, the CPU image and its build cache take about 4 GB
#   MTST_DOCKER_LOG    the daemon's log (default /var/log/mtst-dockerd.log)
set -euo pipefail

ROOT="${MTST_DOCKER_ROOT:-/var/lib/docker}"
LOG="${MTST_DOCKER_LOG:-/var/log/mtst-dockerd.log}"

# debian-archive-keyring and gpgv: what debootstrap checks the Debian release it bootstraps with (infra/base.sh);
# debootstrap only recommends them, and without them it would skip the signature check.
if ! command -v dockerd > /dev/null || ! command -v debootstrap > /dev/null || ! command -v gpgv > /dev/null \
        || ! dpkg-query -W -f '${Status}' debian-archive-keyring 2> /dev/null | grep -q 'ok installed'; then
    if [ "$(id -u)" != 0 ]; then
        echo "error: dockerd / debootstrap / its keyring are missing and installing them needs root:" \
             "apt-get install docker.io debootstrap debian-archive-keyring gpgv" >&2
        exit 2
    fi
    echo "installing the container engine (Debian docker.io), debootstrap and Debian's archive keyring" >&2
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker.io debootstrap \
        debian-archive-keyring gpgv > /dev/null
fi

if docker info > /dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: no Docker daemon answers and starting one needs root (or start yours and set DOCKER_HOST)" >&2
    exit 2
fi
echo "starting dockerd (data root $ROOT, log $LOG)" >&2
mkdir -p "$ROOT" "$(dirname "$LOG")"
# containerd comes with docker.io; dockerd starts its own when none runs. setsid: the daemon outlives make.
setsid dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root "$ROOT" > "$LOG" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
    if docker info > /dev/null 2>&1; then
        exit 0
    fi
    sleep 1
done
echo "error: dockerd did not answer within 60 s; its log ($LOG) ends with:" >&2
tail -n 20 "$LOG" >&2
exit 1
