#!/bin/bash
# Issue 23's concurrency figure at full size: P lxbox processes (default 8) each launch N --rm
# containers (default 500) against one store at once; prints the wall time, launches per
# second and the errors (required: 0), then checks the store is intact with `lxbox check`.
# tests/e2e/concurrency_test.cpp runs the same count under ctest (it fits CI's budget).
# --mixed: every other launch of each process is --backend vm, against the one VM supervisor
# (defaults 4 processes x 50; tests/vm/vm_concurrency_test.cpp runs 4 x 8 under ctest); the
# VM is stopped at the end and nothing of it may be left (QEMU, supervisor, sockets).
#   tools/bench/concurrency.sh [--mixed] [BUILD_DIR] [N] [P]      (root)
set -euo pipefail
mixed=0
if [ "${1:-}" = --mixed ]; then mixed=1; shift; fi
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
n="${2:-$([ $mixed = 1 ] && echo 50 || echo 500)}"
procs="${3:-$([ $mixed = 1 ] && echo 4 || echo 8)}"
lxbox="$build/host/lxbox"
tar="$build/distro-images/busybox-rootfs.tar"
[ "$(id -u)" = 0 ] || { echo "concurrency.sh: needs root" >&2; exit 1; }
[ -x "$lxbox" ] && [ -r "$tar" ] || { echo "concurrency.sh: build lxbox first ($lxbox)" >&2; exit 1; }

work="$(mktemp -d /tmp/lxbox-concurrency.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/store"
"$lxbox" --root "$root" import base "$tar"
if [ $mixed = 1 ]; then
    # The guest image the build's VM tests made, when there is one; else vm image builds it.
    if [ -d "$build/vm-test-cache/image" ]; then
        mkdir -p "$root/vm"
        for sub in cache kernel image; do ln -s "$build/vm-test-cache/$sub" "$root/vm/$sub"; done
    fi
    "$lxbox" --root "$root" launch --backend vm base --rm -- true   # the boot, outside the timing
    trap '"$lxbox" --root "$root" vm stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
fi

worker() {
    local errors=0 i backend=native
    for ((i = 0; i < n; i++)); do
        [ $mixed = 1 ] && backend=$([ $(((i + $1) % 2)) = 0 ] && echo vm || echo native)
        "$lxbox" --root "$root" launch --backend "$backend" base --rm -- true 2>>"$work/err.$1" || errors=$((errors + 1))
    done
    echo "$errors" >"$work/errors.$1"
}

start=$(date +%s.%N)
for ((p = 0; p < procs; p++)); do worker "$p" & done
wait
end=$(date +%s.%N)

errors=$(cat "$work"/errors.* | awk '{s += $1} END {print s}')
total=$((n * procs))
awk -v t="$total" -v p="$procs" -v n="$n" -v e="$errors" -v s="$start" -v f="$end" 'BEGIN {
    printf "concurrent --rm launches: %d (%d processes x %d), errors: %d, wall %.1f s, %.0f launches/s\n",
        t, p, n, e, f - s, t / (f - s) }'
[ $mixed = 1 ] && echo "mixed: half of them in the VM, one supervisor"
[ "$errors" = 0 ] || { echo "first errors:"; cat "$work"/err.* | sort | uniq -c | head; }
"$lxbox" --root "$root" check
if [ $mixed = 1 ]; then
    "$lxbox" --root "$root" vm stop
    left=$( (pgrep -af -- "$root/" || true) | wc -l)
    socks=$(find "$root/vm" -type s | wc -l)
    echo "after vm stop: processes of the store $left, sockets $socks"
    [ "$left" = 0 ] && [ "$socks" = 0 ] || exit 1
fi
leftover=$(grep -c " $root/" /proc/self/mountinfo || true)
echo "mounts left under the store: $leftover; containers/ entries left: $(ls -A "$root/containers" | wc -l)"
[ "$errors" = 0 ] && [ "$leftover" = 0 ]
