#!/bin/bash
# `lxbox launch --backend vm` against its floor and the native path, in one run:
#   1. start-to-exit of /bin/true: launch --rm --backend vm (boots a VM for the launch, powers
#      it off after) and native launch --rm, against a bare boot of the same kernel and machine
#      to a trivial /init that powers off at once (the floor any per-launch VM pays);
#   2. throughput of the channel: 256 MiB from the container's stdout (guest -> host) and into
#      its stdin (host -> guest), net of the start-up measured in 1.
# The guest runs under TCG here (nested KVM hangs); ratios only mean something within one run.
#   tools/bench/vm-launch.sh [BUILD_DIR] [RUNS]      (root; default build/ and 5 runs)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
runs="${2:-5}"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "vm-launch.sh: needs root" >&2; exit 1; }
for tool in hyperfine qemu-system-x86_64; do
    command -v "$tool" >/dev/null || { echo "vm-launch.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/lxbox-vm-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM
export LXBOX_ROOT="$work/store"
# First use: guest image, distro disk, KVM verdict (not timed).
"$lxbox" launch --rm --backend vm -- true
"$lxbox" launch --rm -- true
# The floor: the same kernel on the same machine type booting a trivial /init that powers off
# at once (lxbox_vm_bench, as tools/bench/vm.sh runs it).
cmake --build "$build" --target lxbox_vm_bench vm_trivial_init lxbox-agent >/dev/null
bare_ms="$("$build/tests/vm/lxbox_vm_bench" "$runs" 1 | awk '/^bare PVH boot/ {print $5}')"
echo "== start-to-exit of /bin/true ($runs runs each)"
hyperfine -N -w 1 -r "$runs" --export-json "$work/start.json" \
    -n "lxbox launch --rm --backend vm" "$lxbox launch --rm --backend vm -- true" \
    -n "lxbox launch --rm (native)" "$lxbox launch --rm -- true" >/dev/null
jq -r '.results[] | "\(.command): \(.mean * 1000 | floor) ms (sd \(.stddev * 1000 | floor))"' "$work/start.json"
echo "bare boot to a powering-off /init (floor, median): $bare_ms ms"
vm_ms="$(jq '.results[0].mean * 1000' "$work/start.json")"
native_ms="$(jq '.results[1].mean * 1000' "$work/start.json")"
echo "vm launch / bare boot: $(echo "$vm_ms / $bare_ms" | bc -l | cut -c1-4)x; vm / native: $(echo "$vm_ms / $native_ms" | bc -l | cut -c1-6)x"
echo "== channel throughput, 256 MiB, net of start-up"
t0=$(date +%s%N); "$lxbox" launch --rm --backend vm -- head -c 268435456 /dev/zero | wc -c >/dev/null; t1=$(date +%s%N)
out_s=$(echo "($t1 - $t0) / 1000000000 - $vm_ms / 1000" | bc -l)
head -c 268435456 /dev/zero >"$work/in.bin"
t0=$(date +%s%N); "$lxbox" launch --rm --backend vm -- wc -c <"$work/in.bin" >/dev/null; t1=$(date +%s%N)
in_s=$(echo "($t1 - $t0) / 1000000000 - $vm_ms / 1000" | bc -l)
echo "guest -> host (container stdout): $(echo "256 * 1.048576 / $out_s" | bc -l | cut -c1-6) MB/s"
echo "host -> guest (container stdin):  $(echo "256 * 1.048576 / $in_s" | bc -l | cut -c1-6) MB/s"
