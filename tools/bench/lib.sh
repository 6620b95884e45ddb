# Shared by the benchmarks: the Debian bookworm minbase rootfs they run on, built once with
# debootstrap and cached under $cache (default /var/tmp/lxbox-bench; delete it to rebuild).
#   . tools/bench/lib.sh; ensure_debian_rootfs   -> $cache/rootfs/, rootfs.tar.gz, rootfs.tar.zst
cache="${cache:-/var/tmp/lxbox-bench}"

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

ensure_debian_rootfs() {
    mkdir -p "$cache"
    [ -f "$cache/rootfs.tar.gz" ] && [ -f "$cache/rootfs.tar.zst" ] && [ -d "$cache/rootfs" ] || build_rootfs
}
