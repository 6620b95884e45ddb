#!/usr/bin/env bash
# `ctr run --rm` through a private containerd (Debian's 1.6, the runc v2 shim), with lxbox-oci
# against runc as the shim's runtime binary, interleaved (interleave.py).
#   tools/bench/containerd.sh [ROUNDS]        (root; build/ must hold the lxbox build)
# The containerd has its own root, state, socket and config in a temporary directory, and is
# stopped and removed at the end, with every mount it made.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rounds="${1:-30}"
lxbox="${LXBOX:-$repo/build/host/lxbox}"
runc="$(command -v runc)"
dir="$(mktemp -d /tmp/lxbox-ctd-bench.XXXXXX)"
ns="lxbox-bench-$$"  # ctr puts its cgroups at /NAMESPACE/ID: removed at the end
cleanup() {
    [ -n "${ctd_pid:-}" ] && kill "$ctd_pid" 2>/dev/null && wait "$ctd_pid" 2>/dev/null || true
    grep -o " $dir[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
    rm -rf "$dir"
    for cg in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do [ -d "$cg" ] && rmdir "$cg" 2>/dev/null; done || true
}
trap cleanup EXIT
ln -s "$lxbox" "$dir/lxbox-oci"
cat >"$dir/config.toml" <<TOML
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
TOML
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 100); do [ -S "$dir/containerd.sock" ] && break; sleep 0.1; done
ctr() { command ctr --address "$dir/containerd.sock" --namespace "$ns" "$@"; }
mkdir -p "$dir/rootfs" "$dir/layout"
tar -xf "$repo/build/distro-images/busybox-rootfs.tar" -C "$dir/rootfs"
python3 "$here/oci_layout.py" "$dir/rootfs" "$dir/layout" 1
tar -C "$dir/layout" -cf "$dir/image.tar" .
ctr images import --index-name lxbox.test/busybox:latest "$dir/image.tar" >/dev/null
# One run; the id is new each time (the shell's pid), as a client's would be.
cat >"$dir/run-one" <<SH
#!/bin/sh
exec ctr --address "$dir/containerd.sock" --namespace $ns run --rm --runc-binary "\$1" --runc-root "$dir/runc-root" lxbox.test/busybox:latest c\$\$ true
SH
chmod +x "$dir/run-one"
python3 "$here/interleave.py" "$rounds" 3 runc "$dir/run-one $runc" lxbox-oci "$dir/run-one $dir/lxbox-oci"
