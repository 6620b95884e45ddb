#!/bin/sh
# Writes a minimal busybox rootfs as an uncompressed tar to stdout (or to $1).
# Source: Debian's busybox-static (/bin/busybox, statically linked): no network needed.
# Used at build time for the embedded default distro and by distro-images/busybox.json.
set -eu
BUSYBOX=${BUSYBOX:-/bin/busybox}
# Which busybox lists the applets: BUSYBOX itself, or (for one of another arch, which cannot run
# here) a busybox of the same version and configuration (tools/fixtures/busybox-arm64.sh).
APPLETS_FROM=${BUSYBOX_APPLETS_FROM:-$BUSYBOX}
if ! [ -x "$BUSYBOX" ] || ! "$APPLETS_FROM" --list >/dev/null 2>&1; then
    echo "build-rootfs.sh: $BUSYBOX is missing: apt-get install busybox-static" >&2
    exit 1
fi
if file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "build-rootfs.sh: $BUSYBOX is dynamically linked: apt-get install busybox-static" >&2
    exit 1
fi
out=${1:--}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev home var/tmp run
chmod 1777 tmp var/tmp
chmod 700 root
cp "$BUSYBOX" bin/busybox
chmod 755 bin/busybox
for applet in $("$APPLETS_FROM" --list-full); do
    case "$applet" in bin/busybox) continue ;; esac
    [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
nogroup:x:65534:
G
cat > etc/os-release <<'O'
NAME="BusyBox"
ID=busybox
PRETTY_NAME="BusyBox (lxbox default distro)"
HOME_URL="https://busybox.net/"
O
echo busybox > etc/hostname
# Fixed mtimes and numeric root ownership: the tarball is the same from build to build.
find . -exec touch -h -d @1700000000 {} +
tar --numeric-owner --owner=0 --group=0 --sort=name -cf "$out" .
