#!/bin/sh
# Start-to-exit of /bin/true in a container: lxbox launch --rm against bwrap, runc, unshare and
# the bare host, on the same busybox rootfs, in one hyperfine run (ratios only mean something
# within one run on these shared machines). Root only.
#   tools/bench/launch.sh [BUILD_DIR] [RUNS]
set -eu
BUILD=${1:-build}
RUNS=${2:-100}
LXBOX=$(cd "$BUILD" && pwd)/host/lxbox
TAR=$(cd "$BUILD" && pwd)/distro-images/busybox-rootfs.tar
[ "$(id -u)" = 0 ] || { echo "launch.sh: needs root" >&2; exit 1; }
[ -x "$LXBOX" ] && [ -r "$TAR" ] || { echo "launch.sh: build lxbox first ($LXBOX, $TAR)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/lxbox-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$WORK/bundle/rootfs"
tar -xf "$TAR" -C "$WORK/bundle/rootfs"
export LXBOX_ROOT="$WORK/store"
"$LXBOX" launch --rm -- /bin/true  # registers the embedded busybox distro (first use)

set -- \
  -n host "/bin/true" \
  -n unshare "unshare -mpfiu --mount-proc /bin/true" \
  -n bwrap "bwrap --bind $WORK/bundle/rootfs / --proc /proc --dev /dev --unshare-pid --unshare-ipc --unshare-uts /bin/true" \
  -n "lxbox launch --rm" "$LXBOX launch --rm -T -- /bin/true" \
  -n "lxbox launch (default container)" "$LXBOX launch -T -- /bin/true"
if command -v runc >/dev/null; then
  (cd "$WORK/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
  set -- "$@" -n "runc run" "runc --root $WORK/runc run -b $WORK/bundle lxbox-bench"
fi
hyperfine -N --warmup 5 --runs "$RUNS" --export-markdown "$WORK/result.md" "$@"
cat "$WORK/result.md"
