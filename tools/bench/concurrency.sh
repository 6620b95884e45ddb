#!/bin/bash
# Issue 23's concurrency figure at full size: P lxbox processes (default 8) each launch N --rm
# containers (default 500) against one store at once; prints the wall time, launches per
# second and the errors (required: 0), then checks the store is intact with `lxbox check`.
# tests/e2e/concurrency_test.cpp runs the same count under ctest (it fits CI's budget).
#   tools/bench/concurrency.sh [BUILD_DIR] [N] [P]      (root)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
n="${2:-500}"
procs="${3:-8}"
lxbox="$build/host/lxbox"
tar="$build/distro-images/busybox-rootfs.tar"
[ "$(id -u)" = 0 ] || { echo "concurrency.sh: needs root" >&2; exit 1; }
[ -x "$lxbox" ] && [ -r "$tar" ] || { echo "concurrency.sh: build lxbox first ($lxbox)" >&2; exit 1; }

work="$(mktemp -d /tmp/lxbox-concurrency.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/store"
"$lxbox" --root "$root" import base "$tar"

worker() {
    local errors=0 i
    for ((i = 0; i < n; i++)); do
        "$lxbox" --root "$root" launch base --rm -- true 2>>"$work/err.$1" || errors=$((errors + 1))
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
[ "$errors" = 0 ] || { echo "first errors:"; cat "$work"/err.* | sort | uniq -c | head; }
"$lxbox" --root "$root" check
leftover=$(grep -c " $root/" /proc/self/mountinfo || true)
echo "mounts left under the store: $leftover; containers/ entries left: $(ls -A "$root/containers" | wc -l)"
[ "$errors" = 0 ] && [ "$leftover" = 0 ]
