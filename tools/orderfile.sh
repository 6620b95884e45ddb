#!/bin/bash
# Regenerates host/lxbox.order: the functions a native launch runs, which the linker (lld,
# --symbol-ordering-file) places together at the start of lxbox's text. A launch is mostly
# page faults on this project's VMs (~10 us each), and the text it runs was spread over 7 MiB:
# 59 faults on code in lxbox and 28 more in the container's init after the fork. Grouped, the
# pages the kernel maps around each fault hold code the launch runs next.
#
# The list: every function of the launcher's start-up and its path up to clone3, from
# callgrind (which cannot follow clone3 with namespaces: the run stops there), then every
# function seen on a stack by perf sampling 300 real launches (the clone, the container's
# init, the wait and the exit). A stale list costs speed only: names no longer in the
# binary are skipped by the linker, new code lands after the ordered part.
#   tools/orderfile.sh [BUILD_DIR]    (root; needs the valgrind and linux-perf packages; writes host/lxbox.order)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "orderfile.sh: needs root (it launches containers)" >&2; exit 1; }
for tool in valgrind callgrind_annotate perf nm; do
    command -v "$tool" >/dev/null || { echo "orderfile.sh: $tool not found" >&2; exit 1; }
done
work="$(mktemp -d /tmp/lxbox-order.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM
export LXBOX_ROOT="$work/store"
"$lxbox" launch --rm -- /bin/true  # registers the embedded busybox distro

# Functions defined in the binary: what an ordering file may name.
nm --defined-only "$lxbox" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$work/defined"

valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.out" \
    "$lxbox" launch --rm -- /bin/true >/dev/null 2>&1 || true  # ends at clone3 (ENOSYS)
grep -o '^fn=([0-9]*) [^ ]*' "$work/cg.out" | awk '{print $2}' >"$work/startup"

perf record -q -F 15000 --call-graph dwarf,8192 -o "$work/perf.data" -- sh -c \
    "for i in \$(seq 150); do '$lxbox' launch --rm -- /bin/true; '$lxbox' launch busybox -- /bin/true; done" \
    >/dev/null 2>&1
perf script -i "$work/perf.data" --comms lxbox -F ip,sym --no-demangle 2>/dev/null |
    awk 'NF >= 2 {print $2}' | sort | uniq -c | sort -rn | awk '{print $2}' >"$work/sampled"

cat "$work/startup" "$work/sampled" | awk '!seen[$0]++' |
    grep -Fxf "$work/defined" >"$src/host/lxbox.order"
echo "orderfile.sh: host/lxbox.order: $(wc -l <"$src/host/lxbox.order") functions"
