#!/bin/bash
# Import speed: `lxbox import` against `bsdtar -xpf` and GNU `tar -xpf`, on a Debian bookworm
# minbase rootfs as .tar.gz and .tar.zst, timed in one hyperfine run per format into the same
# filesystem. The bar (from the issue): lxbox at least as fast as GNU tar, which wins by
# decompressing in a separate process.
#   tools/bench/import.sh [RUNS]        (root; BUILD=build dir, default build)
# Tarballs are cached under /var/tmp/lxbox-bench (delete it to rebuild). Absolute times vary
# run to run on a shared host: compare the ratios, which come from one run.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$src/build}"
runs="${1:-5}"
cache=/var/tmp/lxbox-bench
work="$cache/work"   # the extraction targets: same filesystem for all three tools

[ "$(id -u)" = 0 ] || { echo "import.sh: run as root (owners, device nodes)" >&2; exit 1; }
for tool in hyperfine bsdtar tar zstd gzip jq; do
    command -v "$tool" >/dev/null || { echo "import.sh: $tool not found" >&2; exit 1; }
done
if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target lxbox >/dev/null
lxbox="$build/host/lxbox"
[ -x "$lxbox" ] || lxbox="$(find "$build" -name lxbox -type f -perm -u+x | head -n1)"

. "$src/tools/bench/lib.sh"

ensure_debian_rootfs
cat "$cache/SOURCE"
echo "$(find "$cache/rootfs" | wc -l) entries, $(du -sh "$cache/rootfs" | cut -f1) unpacked;" \
     "tar.gz $(du -h "$cache/rootfs.tar.gz" | cut -f1), tar.zst $(du -h "$cache/rootfs.tar.zst" | cut -f1)"

# Cold page cache when the kernel lets us (not in every container); the target is always fresh.
drop='sync; { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true'
rm -rf "$work" && mkdir -p "$work"
for fmt in tar.gz tar.zst; do
    ball="$cache/rootfs.$fmt"
    echo "== rootfs.$fmt"
    hyperfine --runs "$runs" --export-json "$cache/result-$fmt.json" --style basic \
        --prepare "rm -rf $work/store; $drop" \
        -n lxbox "$lxbox -q --root $work/store import bench $ball --replace" \
        --prepare "rm -rf $work/bsdtar; mkdir $work/bsdtar; $drop" \
        -n bsdtar "bsdtar -xpf $ball -C $work/bsdtar" \
        --prepare "rm -rf $work/gnutar; mkdir $work/gnutar; $drop" \
        -n gnutar "tar -xpf $ball -C $work/gnutar"
    jq -r '.results | map({(.command): .mean}) | add |
        "ratio (mean time, < 1 means lxbox is faster): lxbox/gnutar \(.lxbox / .gnutar * 1000 | round / 1000)" +
        ", lxbox/bsdtar \(.lxbox / .bsdtar * 1000 | round / 1000)"' "$cache/result-$fmt.json"
done
rm -rf "$work"
