#!/bin/bash
# OCI images on the VM backend: the cost of an image's disk and the choice of its layout.
#   1. first and second `launch --rm --backend vm -- true` of a 5-layer OCI image against the
#      same Debian minbase rootfs imported as a plain tarball distro, the VM already running
#      (the first launch builds the disk and hot-plugs it; the second finds both done);
#   2. the two layouts issue 18 weighs, for two images sharing 4 base layers (+1 layer each):
#      one flattened disk per image (what lxbox builds) against one disk per layer (mkfs.ext4
#      -d of each layer tree, sized as lxbox sizes its disks): the build time of the second
#      image's disk(s) once the first's exist, and the disk space both images take (du);
#   3. (in 1.) what the guest pays per disk, which a disk per layer pays once per new layer:
#      the first launch net of the disk build (lxbox logs it) and of the second launch.
# The guest runs under TCG here (nested KVM hangs); ratios only mean something within one run.
#   tools/bench/vm-images.sh [BUILD_DIR] [RUNS]      (root; default build/ and 3 runs)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
runs="${2:-3}"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "vm-images.sh: needs root" >&2; exit 1; }
for tool in qemu-system-x86_64 mkfs.ext4 jq bc python3; do
    command -v "$tool" >/dev/null || { echo "vm-images.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
. "$src/tools/bench/lib.sh"
ensure_debian_rootfs
work="$(mktemp -d /var/tmp/lxbox-vm-images-bench.XXXXXX)"
export LXBOX_ROOT="$work/store"
trap '"$lxbox" vm stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT INT TERM
lx() { "$lxbox" --quiet "$@"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }
timed() { local t=$(ms_now); "$@" >/dev/null; echo $(($(ms_now) - t)); }

python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/a" 4 app-a "a"
python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/b" 4 app-b "b"
# The VM up (guest image, KVM verdict, containers disk) with the embedded busybox: not timed.
lx launch --rm --backend vm -- true

echo "== 1. first and second vm launch of /bin/true, the VM running ($runs rounds, each on fresh imports)"
for ((i = 0; i < runs; i++)); do
    lx import "tar$i" "$cache/rootfs.tar.zst"
    # 4 layers of the rootfs and one of its own: 5 layers, a manifest no earlier round had.
    python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/five$i" 4 "round$i" "$i" >/dev/null
    lx import "oci$i" "$work/five$i"
    for kind in tar oci; do
        t=$(ms_now)
        "$lxbox" --log-level info launch --rm --backend vm "$kind$i" -- true 2>"$work/first.err" ||
            { cat "$work/first.err" >&2; exit 1; }
        first=$(($(ms_now) - t))
        second=$(timed lx launch --rm --backend vm "$kind$i" -- true)
        # The OCI disk's build time, as lxbox logs it (the tarball's disk is mkfs.ext4 -d alone).
        build_ms=$(sed -n 's/.*built the VM disk of image .* in \([0-9]*\) ms.*/\1/p' "$work/first.err")
        echo "$kind $first $second ${build_ms:-0}"
    done
    lx image rm "tar$i"
    lx image rm "oci$i"
done >"$work/launch.txt"
mean() { awk -v k="$1" -v c="$2" '$1 == k {s += $c; n++} END {printf "%.0f", s / n}' "$work/launch.txt"; }
for kind in tar oci; do
    label=$([ $kind = tar ] && echo "plain tarball distro" || echo "5-layer OCI image   ")
    echo "$label: first launch $(mean $kind 2) ms, second $(mean $kind 3) ms"
done
printf 'OCI / tarball: first %.2fx, second %.2fx\n' "$(echo "$(mean oci 2) / $(mean tar 2)" | bc -l)" \
    "$(echo "$(mean oci 3) / $(mean tar 3)" | bc -l)"
echo "the OCI image's disk build (merge + mkfs.ext4 -d): $(mean oci 4) ms of its first launch"
plug=$(($(mean oci 2) - $(mean oci 3) - $(mean oci 4)))
echo "what else the first launch pays (hot-plug + mount of its disk in the guest): $plug ms"
echo "  (a disk per layer pays that for each layer the running VM has not plugged yet)"

echo "== 2. two images sharing 4 base layers: one disk per image (lxbox) against one disk per layer"
lx import a "$work/a"
t_a=$(timed lx launch --rm --backend vm a -- true)
lx import b "$work/b"
t_b=$(timed lx launch --rm --backend vm b -- true)
per_image=$(du -cb "$LXBOX_ROOT"/vm/disks/sha256:*.ext4 | tail -1 | cut -f1)
per_image_du=$(du -c -B1 "$LXBOX_ROOT"/vm/disks/sha256:*.ext4 | tail -1 | cut -f1)
# A disk per layer, as lxbox would size it (tree + 25% + 16 MiB), built from each layer tree.
mkdir "$work/layer-disks"
layer_ms=0
for layer in "$LXBOX_ROOT"/layers/sha256/*/; do
    hex=$(basename "$layer")
    used=$(du -sb "$layer" | cut -f1)
    kib=$(((used + used / 4) / 1024 + 16 * 1024))
    t=$(timed mkfs.ext4 -q -F -O ^has_journal -E root_owner=0:0 -d "$layer" "$work/layer-disks/$hex.ext4" "${kib}k")
    layer_ms=$((layer_ms + t))
done
per_layer_du=$(du -c -B1 "$work/layer-disks"/*.ext4 | tail -1 | cut -f1)
n_layers=$(ls "$work/layer-disks" | wc -l)
echo "lxbox, a flattened disk per image: first launch of a $t_a ms, of b $t_b ms (its own disk built)"
echo "  disks on the host (du): $((per_image_du / 1048576)) MiB for a + b ($((per_image / 1048576)) MiB apparent)"
echo "a disk per layer: $n_layers layer disks, mkfs.ext4 -d of all of them $layer_ms ms ($((layer_ms / n_layers)) ms a layer)"
echo "  disks on the host (du): $((per_layer_du / 1048576)) MiB for a + b"
printf 'disk space, per image / per layer: %.2fx\n' "$(echo "$per_image_du / $per_layer_du" | bc -l)"

