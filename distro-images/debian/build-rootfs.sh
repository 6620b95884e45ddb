#!/bin/sh
# Writes a Debian minbase rootfs (debootstrap --variant=minbase) as a tar stream to stdout.
# The mirror is the one apt uses on this machine (first deb.debian.org-style URI in
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), or $DEBIAN_MIRROR.
set -eu
suite=${1:-bookworm}
if ! command -v debootstrap >/dev/null; then
    echo "debian/build-rootfs.sh: debootstrap is missing: apt-get install debootstrap" >&2
    exit 1
fi
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -n1)
fi
if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
dir=$(mktemp -d /var/tmp/lxbox-debootstrap.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# $DEBOOTSTRAP_INCLUDE: packages to add (comma-separated), as a test fixture needs.
include=${DEBOOTSTRAP_INCLUDE:+--include=$DEBOOTSTRAP_INCLUDE}
echo "debootstrap --variant=minbase $include $suite from $mirror" >&2
debootstrap --variant=minbase $include "$suite" "$dir" "$mirror" >&2
# apt's caches are re-downloadable: leave them out of the image.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*_* 2>/dev/null || true
tar --numeric-owner --xattrs --xattrs-include='*' -C "$dir" -cf - .
