#!/usr/bin/env bash
# Prints the base image infra/Dockerfile* should build FROM, making it when it cannot be had.
#   infra/base.sh [OFFICIAL]      (default: the ARG BASE_IMAGE default of infra/Dockerfile)
# 1. OFFICIAL when the engine has it or can pull it (a machine that reaches Docker Hub);
# 2. else the equivalent made from Debian packages, mtst-base/debian:<suite> (made once, then reused):
#    `debootstrap --variant=minbase` of the same Debian release from this machine's Debian mirror, with the
#    slim image's dpkg exclusions (no docs, man pages, locales), imported as an image (about a minute).
#    Nothing unverified goes in: debootstrap must check the Release file's signature against Debian's archive
#    keyring (--force-check-gpg: a missing keyring or gpgv is an error, not a warning), then every Packages
#    index and .deb against the hashes that signed file lists; apt inside the image uses the same keyring.
# Output: the image name on stdout; progress on stderr.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OFFICIAL="${1:-$(sed -n 's/^ARG BASE_IMAGE=//p' "$HERE/Dockerfile" | head -n 1)}"
SUITE="${MTST_BASE_SUITE:-bookworm}"
LOCAL="mtst-base/debian:$SUITE"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg  # package debian-archive-keyring (infra/engine.sh)

if docker image inspect "$OFFICIAL" > /dev/null 2>&1; then
    echo "$OFFICIAL"; exit 0
fi
if timeout 120 docker pull --quiet "$OFFICIAL" > /dev/null 2>&1; then
    echo "$OFFICIAL"; exit 0
fi
if docker image inspect "$LOCAL" > /dev/null 2>&1; then
    echo "$LOCAL"; exit 0
fi

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN.
MIRROR="$(grep -rhoE '^URIs: *http[^ ]*/debian/?$' /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | sed 's/^URIs: *//' || true)"
if [ -z "$MIRROR" ]; then
    MIRROR="$(grep -rhoE '^deb +http[^ ]*/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | awk '{print $2}' || true)"
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
echo "$OFFICIAL cannot be pulled: making $LOCAL from Debian packages ($MIRROR)" >&2

WORK="$(mktemp -d /var/tmp/mtst-base.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
# The slim images' exclusions, in place before debootstrap unpacks anything else.
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d"
cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
debootstrap --variant=minbase --force-check-gpg --keyring="$KEYRING" "$SUITE" "$ROOTFS" "$MIRROR" \
        > "$WORK/debootstrap.log" 2>&1 || {
    tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

# apt inside the image: the release, its updates and security, as in the official image; plus this machine's
# apt settings (e.g. a snapshot mirror's "no Valid-Until check"), which it needs to reach the same mirror.
rm -f "$ROOTFS/etc/apt/sources.list"
cat > "$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: $KEYRING

Types: deb
URIs: ${MIRROR%/debian*}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: $KEYRING
EOF
for conf in /etc/apt/apt.conf.d/*; do
    if grep -qE 'Check-Valid-Until|Check-Date' "$conf" 2>/dev/null; then
        cp "$conf" "$ROOTFS/etc/apt/apt.conf.d/"
    fi
done
# debootstrap's first stage unpacks without dpkg's exclusions: drop what the slim images leave out.
find "$ROOTFS/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian/* \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log \
    "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE $MIRROR (equivalent of $OFFICIAL)" - "$LOCAL" > /dev/null
echo "$LOCAL"
