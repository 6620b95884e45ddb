#!/bin/bash
# Import speed: `lxbox import` against GNU `tar -xpf` and `bsdtar -xpf` on two kinds of tarball:
#   rootfs      a Debian bookworm minbase rootfs, as .tar.gz and .tar.zst (lib.sh);
#   smallfiles  tens of thousands of small files (~10 KB on average), like a distro's docs,
#               man pages, locales and zoneinfo: this machine's /usr/share/{doc,man,locale,
#               zoneinfo}, or generated text where the machine has too few files there; .tar.gz.
# The bar (issue 21): lxbox at most 0.9x GNU tar's time on both kinds.
#   tools/bench/import.sh [ROUNDS] [KIND...]   (root; KIND: rootfs smallfiles, default both;
#                                               BUILD=build dir, default build)
# Rounds are interleaved (interleave.py): each round runs every tool once, in a rotating order.
# Before every run, untimed: the previous target is moved aside (not deleted: on ext4 without a
# journal, as this machine's root is, the inode allocator skips inodes deleted in the last
# minutes, so a run right after an `rm -rf` of 40k files pays for it), sync, the page cache
# dropped when the kernel lets us, and the tarball read back in: each tool starts from the same
# state. Tarballs are cached under /var/tmp/lxbox-bench (delete them to rebuild).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$src/build}"
rounds="${1:-5}"
shift || true
kinds=("$@")
[ "${#kinds[@]}" -gt 0 ] || kinds=(rootfs smallfiles)
cache=/var/tmp/lxbox-bench
work="$cache/work"   # the extraction targets: same filesystem for all three tools

[ "$(id -u)" = 0 ] || { echo "import.sh: run as root (owners, device nodes)" >&2; exit 1; }
for tool in bsdtar tar zstd gzip jq python3; do
    command -v "$tool" >/dev/null || { echo "import.sh: $tool not found" >&2; exit 1; }
done
if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target lxbox >/dev/null
lxbox="$build/host/lxbox"

. "$src/tools/bench/lib.sh"

# A generated stand-in for a machine without docs: text files of a fixed seed, sizes spread
# like /usr/share's (most a few KB, a tail to ~200 KB), in a tree of 30 dirs x 40 subdirs.
generate_small_tree() {
    python3 - "$1" <<'EOF'
import os, random, sys
root, rnd = sys.argv[1], random.Random(21)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(4000)]
for i in range(32000):
    d = os.path.join(root, f"pkg{i % 30:02d}", f"sub{(i // 30) % 40:02d}")
    os.makedirs(d, exist_ok=True)
    size = min(int(rnd.lognormvariate(8.3, 1.1)), 200_000)
    text, n = [], 0
    while n < size:
        w = rnd.choice(words)
        text.append(w)
        n += len(w) + 1
    with open(os.path.join(d, f"file{i:05d}.txt"), "w") as f:
        f.write(" ".join(text)[:size])
EOF
}

ensure_smallfiles() {
    local ball="$cache/smallfiles.tar.gz" dirs=() d tree
    [ -f "$ball" ] && return
    for d in doc man locale zoneinfo; do [ -d "/usr/share/$d" ] && dirs+=("usr/share/$d"); done
    # Deterministic for a given set of files: sorted names, fixed owners and mtime, gzip -n.
    local tarflags=(--sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00Z')
    if [ "${#dirs[@]}" -gt 0 ] && [ "$(find "${dirs[@]/#//}" | wc -l)" -ge 20000 ]; then
        tar -C / "${tarflags[@]}" -cf - "${dirs[@]}" | gzip -6 -n >"$ball.tmp"
        echo "smallfiles: this machine's /usr/share/{doc,man,locale,zoneinfo}" >"$cache/SOURCE-smallfiles"
    else
        tree="$cache/smallfiles-tree"
        rm -rf "$tree" && mkdir -p "$tree"
        generate_small_tree "$tree"
        tar -C "$tree" "${tarflags[@]}" -cf - . | gzip -6 -n >"$ball.tmp"
        rm -rf "$tree"
        echo "smallfiles: GENERATED text files (fewer than 20000 entries in /usr/share here)" >"$cache/SOURCE-smallfiles"
    fi
    mv "$ball.tmp" "$ball"
}

describe() {  # entries and mean regular-file size of a tarball
    tar -tvzf "$1" | awk '{n++} /^-/ {f++; s += $3} END {printf "%d entries, %d files of %.1f KB on average\n", n, f, s / f / 1024}'
}

# The untimed step before each run (interleave.py sets BENCH_NAME to the tool about to run).
drop='sync; { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true'
prepare() {  # $1: the tarball
    echo "t=$work/\$BENCH_NAME; [ -e \$t ] && mv \$t $work/old/\$BENCH_NAME.\$(date +%s%N); mkdir \$t; $drop; cat $1 >/dev/null"
}

bench() {  # $1: label, $2: tarball
    local ball="$2"
    echo "== $1 ($(du -h "$ball" | cut -f1))"
    rm -rf "$work" && mkdir -p "$work/old"
    python3 "$src/tools/bench/interleave.py" --json "$cache/result-$1.json" --prepare "$(prepare "$ball")" \
        "$rounds" 1 \
        lxbox "$lxbox -q --root $work/lxbox import bench $ball" \
        gnutar "tar -xpf $ball -C $work/gnutar" \
        bsdtar "bsdtar -xpf $ball -C $work/bsdtar"
    jq -r '"ratio (mean time, < 1 means lxbox is faster): lxbox/gnutar \(.lxbox / .gnutar * 1000 | round / 1000)" +
        ", lxbox/bsdtar \(.lxbox / .bsdtar * 1000 | round / 1000)"' "$cache/result-$1.json"
    rm -rf "$work"
}

for kind in "${kinds[@]}"; do
    case "$kind" in
        rootfs)
            ensure_debian_rootfs
            cat "$cache/SOURCE"
            echo "$(find "$cache/rootfs" | wc -l) entries, $(du -sh "$cache/rootfs" | cut -f1) unpacked"
            bench rootfs.tar.gz "$cache/rootfs.tar.gz"
            bench rootfs.tar.zst "$cache/rootfs.tar.zst"
            ;;
        smallfiles)
            ensure_smallfiles
            cat "$cache/SOURCE-smallfiles"
            describe "$cache/smallfiles.tar.gz"
            bench smallfiles.tar.gz "$cache/smallfiles.tar.gz"
            ;;
        *) echo "import.sh: unknown kind '$kind' (rootfs, smallfiles)" >&2; exit 1 ;;
    esac
done
