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

# The Debian mirror apt uses here (deb822 .sources or one-line .list), else deb.debian.org.
debian_mirror() {
    local m
    m="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
    [ -n "$m" ] || m="$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        awk '{print $2}' | grep -v security | head -n1 || true)"
    echo "${m:-http://deb.debian.org/debian}"
}

# Without network debootstrap cannot fetch: a stand-in with the same content is the host's own
# files of every Priority: required package (what minbase installs), in the usrmerge layout.
host_minbase_tree() {
    local dir="$1" list="$cache/files.txt"
    dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}' |
        xargs dpkg -L 2>/dev/null | grep '^/.' |
        sed -E 's#^/(bin|sbin|lib|lib32|lib64|libx32)(/|$)#/usr/\1\2#' | sort -u >"$list"
    mkdir -p "$dir"
    tar -C / --no-recursion --ignore-failed-read -cf - -T "$list" 2>/dev/null | tar -C "$dir" -xpf -
    for d in bin sbin lib lib64; do [ -e "$dir/usr/$d" ] && ln -sfn "usr/$d" "$dir/$d"; done
    mkdir -p "$dir"/{dev,proc,sys,run,tmp,root,home,var/tmp,var/lib/dpkg}
    chmod 1777 "$dir/tmp" "$dir/var/tmp"
    cp -a /var/lib/dpkg/status "$dir/var/lib/dpkg/status"
}

build_rootfs() {
    local dir="$cache/rootfs" mirror
    rm -rf "$dir" "$cache"/rootfs.tar.*
    mirror="$(debian_mirror)"
    echo "building the bookworm minbase rootfs with debootstrap from $mirror ..." >&2
    if timeout 900 debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$cache/debootstrap.log" 2>&1; then
        # What `apt-get clean` leaves, as in the official images: the .debs are no part of a rootfs.
        rm -f "$dir"/var/cache/apt/archives/*.deb
        echo "rootfs: debootstrap --variant=minbase bookworm" >"$cache/SOURCE"
    else
        echo "debootstrap failed (see $cache/debootstrap.log; no network?): falling back to the host's" \
             "files of its Priority: required packages, the same set minbase installs" >&2
        rm -rf "$dir"
        host_minbase_tree "$dir"
        echo "rootfs: FALLBACK, host files of Priority: required packages (debootstrap failed)" >"$cache/SOURCE"
    fi
    tar -C "$dir" --numeric-owner --xattrs --xattrs-include='*' -cf "$cache/rootfs.tar" .
    gzip -6 -c "$cache/rootfs.tar" >"$cache/rootfs.tar.gz"
    zstd -q -3 -T0 -c "$cache/rootfs.tar" >"$cache/rootfs.tar.zst"
    rm -f "$cache/rootfs.tar"
}

mkdir -p "$cache"
[ -f "$cache/rootfs.tar.gz" ] && [ -f "$cache/rootfs.tar.zst" ] || build_rootfs
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
