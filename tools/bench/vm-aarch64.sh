#!/bin/bash
# The aarch64 guest's cold start under TCG (issue 19): `lxbox launch --rm -- true` of the arm64
# busybox distro with no VM running (supervisor start, QEMU, kernel, agent, the container), beside
# a bare boot of the same arm64 kernel Image on the same machine (-M virt -cpu cortex-a57, the same
# memory, vCPUs and command line) to a trivial /init that powers off (tests/vm/trivial_init.c,
# cross-compiled) -- the x86-64 method of tools/bench/vm.sh. Rounds interleaved; medians, ratio.
#   tools/bench/vm-aarch64.sh [ROUNDS]     (root; build/ made by tools/setup --test)
# Absolute times vary run to run on shared hosts: compare the ratio, taken in one run.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$src/build}"
rounds="${1:-5}"
lxbox="$build/host/lxbox"
fixture="$build/fixtures/busybox-arm64-rootfs.tar"
[ -f "$fixture" ] || "$src/tools/fixtures/busybox-arm64.sh" "$fixture"
work="$(mktemp -d /tmp/lxbox-bench-a64-XXXXXX)"
store="$work/store"
cleanup() { "$lxbox" --root "$store" vm stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

"$lxbox" --root "$store" -q import arm64 "$fixture"
"$lxbox" --root "$store" launch --rm arm64 -- true 2>/dev/null  # builds the guest image once
read -r mib cpus < <("$lxbox" --root "$store" vm status --json |
    jq -r '.vms[] | select(.arch == "aarch64") | "\(.memory_mib) \(.cpus)"')
"$lxbox" --root "$store" vm stop
kernel="$(jq -r .vmlinux "$store/vm/aarch64/image/manifest.json")"

# The bare boot: the trivial init, static for aarch64, alone in a newc initramfs.
mkdir -p "$work/bare"
aarch64-linux-gnu-gcc -O2 -static -s -o "$work/bare/init" "$src/tests/vm/trivial_init.c"
(cd "$work/bare" && bsdtar --format newc -cf "$work/bare.cpio" init)
cmdline="console=ttyAMA0 quiet loglevel=1 panic=-1 cryptomgr.notests random.trust_cpu=on rcupdate.rcu_expedited=1"
cmdline="$cmdline audit=0 init_on_alloc=0 init_on_free=0 mitigations=off"
bare() {
    qemu-system-aarch64 -accel tcg -M virt -cpu cortex-a57 -nodefaults -no-user-config -nographic -no-reboot \
        -m "$mib" -smp "$cpus" -kernel "$kernel" -initrd "$work/bare.cpio" -append "$cmdline" \
        -serial "file:$work/bare-console.log"
}
cold() {
    "$lxbox" --root "$store" launch --rm arm64 -- true
    "$lxbox" --root "$store" vm stop
}
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }

lx=() bb=()
for ((i = 0; i < rounds; i++)); do
    bb+=("$(ms bare)")
    lx+=("$(ms cold)")  # includes the vm stop after it, timed apart below
done
stop=()
for ((i = 0; i < rounds; i++)); do
    "$lxbox" --root "$store" launch --rm arm64 -- true
    stop+=("$(ms "$lxbox" --root "$store" vm stop)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_lx=$(median "${lx[@]}") m_bb=$(median "${bb[@]}") m_stop=$(median "${stop[@]}")
cold_ms=$((m_lx - m_stop))
echo "aarch64 guest under TCG, $mib MiB, $cpus vCPU(s), $rounds rounds interleaved (ms: ${lx[*]} | bare ${bb[*]})"
echo "bare boot of the arm64 Image to a trivial /init, QEMU start to exit: median $m_bb ms"
echo "lxbox launch --rm -- true, no VM running (vm stop's median $m_stop ms taken off): median $cold_ms ms"
awk -v a="$cold_ms" -v b="$m_bb" 'BEGIN {printf "cold start / bare boot: %.2fx\n", a / b}'
