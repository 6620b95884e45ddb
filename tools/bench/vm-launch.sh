#!/bin/bash
# `lxbox launch --backend vm` against its floor and the native path, in one run:
#   1. cold start: `lxbox vm stop` then launch --rm --backend vm -- true (supervisor + VM boot +
#      the container), against a bare boot of the same kernel and machine to a trivial /init
#      that powers off at once (the floor any VM pays), one of each per round;
#   2. warm start-to-exit of /bin/true: launch --rm --backend vm into the running shared VM,
#      against native launch --rm;
#   3. the protocol's round trip: `lxbox vm ping` (client -> supervisor -> agent and back);
#   4. throughput of the channel with a warm VM: 256 MiB from the container's stdout
#      (guest -> host) and into its stdin (host -> guest), net of the warm start. The ends in
#      the container are dd and cat, which move 1 MiB / 64 KiB per call: busybox's head -c and
#      wc -c handle the stream a byte at a time, which under TCG is the bottleneck itself
#      (head -c of 64 MiB into /dev/null, no channel involved: 2.2 s in the guest, dd 0.02 s).
# The guest runs under TCG here (nested KVM hangs); ratios only mean something within one run.
#   tools/bench/vm-launch.sh [BUILD_DIR] [RUNS]      (root; default build/ and 5 runs)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
runs="${2:-5}"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "vm-launch.sh: needs root" >&2; exit 1; }
for tool in hyperfine qemu-system-x86_64 jq bc; do
    command -v "$tool" >/dev/null || { echo "vm-launch.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/lxbox-vm-bench.XXXXXX)"
export LXBOX_ROOT="$work/store"
trap '"$lxbox" vm stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT INT TERM
# First use: guest image, distro disk, KVM verdict, the containers disk (not timed).
"$lxbox" launch --rm --backend vm -- true
"$lxbox" launch --rm -- true
cmake --build "$build" --target lxbox_vm_bench vm_trivial_init lxbox-agent >/dev/null
mkdir "$work/bare"
# The bare boot gets the memory and vCPUs of lxbox's VM (a second vCPU costs the kernel's
# boot time too).
read -r vm_mib vm_cpus < <("$lxbox" vm status --json | jq -r '"\(.memory_mib) \(.cpus)"')
mapfile -t bare < <("$build/tests/vm/lxbox_vm_bench" --bare-command "$work/bare" "$vm_mib" "$vm_cpus")
echo "== cold start: vm stop, then launch --rm --backend vm -- true; a bare boot beside it ($runs rounds, ${vm_mib} MiB, $vm_cpus vCPUs)"
# Interleaved, which one goes first alternating: a drift of the shared host falls on both.
ms_now() { echo $(($(date +%s%N) / 1000000)); }
cold_one() { "$lxbox" vm stop >/dev/null; local t=$(ms_now); "$lxbox" launch --rm --backend vm -- true; echo "cold $(($(ms_now) - t))"; }
bare_one() { local t=$(ms_now); "${bare[@]}" </dev/null >/dev/null 2>&1; echo "bare $(($(ms_now) - t))"; }
for ((i = 0; i < runs; i++)); do
    if ((i % 2)); then bare_one; cold_one; else cold_one; bare_one; fi
done >"$work/cold.txt"
stat_of() {  # KIND: "MEAN MEDIAN" of its times
    awk -v k="$1" '$1 == k {print $2}' "$work/cold.txt" | sort -n |
        awk '{a[NR] = $1; s += $1} END {printf "%.0f %.0f\n", s / NR, NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
read -r cold_mean cold_median < <(stat_of cold)
read -r bare_mean bare_median < <(stat_of bare)
echo "cold launch: mean $cold_mean ms, median $cold_median ms"
echo "bare boot to a powering-off /init (the floor): mean $bare_mean ms, median $bare_median ms"
printf 'cold / bare: %.2fx (means), %.2fx (medians); target 1.3x\n' \
    "$(echo "$cold_mean / $bare_mean" | bc -l)" "$(echo "$cold_median / $bare_median" | bc -l)"
echo "== warm start-to-exit of /bin/true ($((runs * 4)) runs each)"
"$lxbox" launch --rm --backend vm -- true
hyperfine -N -w 2 -r "$((runs * 4))" --export-json "$work/warm.json" \
    -n "launch --rm --backend vm (warm)" "$lxbox launch --rm --backend vm -- true" \
    -n "launch --rm (native)" "$lxbox launch --rm -- true" >/dev/null
jq -r '.results[] | "\(.command): \(.mean * 1000 * 10 | floor / 10) ms (sd \(.stddev * 1000 * 10 | floor / 10))"' "$work/warm.json"
warm_ms="$(jq '.results[0].mean * 1000' "$work/warm.json")"
native_ms="$(jq '.results[1].mean * 1000' "$work/warm.json")"
printf 'warm vm / native: %.1fx\n' "$(echo "$warm_ms / $native_ms" | bc -l)"
echo "== protocol round trip (lxbox vm ping, 1000 pings through the supervisor)"
"$lxbox" vm ping --count 1000
echo "== channel throughput, 256 MiB, warm VM, net of the warm start"
produce=(dd if=/dev/zero bs=1M count=256 status=none)
t0=$(date +%s%N); "$lxbox" launch --rm --backend vm -- "${produce[@]}" | wc -c >/dev/null; t1=$(date +%s%N)
out_s=$(echo "($t1 - $t0) / 1000000000 - $warm_ms / 1000" | bc -l)
head -c 268435456 /dev/zero >"$work/in.bin"
t0=$(date +%s%N); "$lxbox" launch --rm --backend vm -- sh -c 'cat >/dev/null' <"$work/in.bin"; t1=$(date +%s%N)
in_s=$(echo "($t1 - $t0) / 1000000000 - $warm_ms / 1000" | bc -l)
t0=$(date +%s%N); "$lxbox" launch --rm -- "${produce[@]}" | wc -c >/dev/null; t1=$(date +%s%N)
native_s=$(echo "($t1 - $t0) / 1000000000 - $native_ms / 1000" | bc -l)
# The same 256 MiB as busybox's head -c writes it, for comparison with earlier runs.
t0=$(date +%s%N); "$lxbox" launch --rm --backend vm -- head -c 268435456 /dev/zero | wc -c >/dev/null; t1=$(date +%s%N)
head_s=$(echo "($t1 - $t0) / 1000000000 - $warm_ms / 1000" | bc -l)
printf 'guest -> host (container stdout): %.0f MB/s\n' "$(echo "256 * 1.048576 / $out_s" | bc -l)"
printf 'host -> guest (container stdin):  %.0f MB/s\n' "$(echo "256 * 1.048576 / $in_s" | bc -l)"
printf 'native stdout, same pipe:         %.0f MB/s\n' "$(echo "256 * 1.048576 / $native_s" | bc -l)"
printf 'guest -> host with busybox head -c: %.0f MB/s (bound by head itself under TCG)\n' \
    "$(echo "256 * 1.048576 / $head_s" | bc -l)"
