#!/bin/bash
# Native launch speed, against the peers, in one run (ratios only mean something within one run
# on these shared machines):
#   1. start-to-exit of /bin/true in the busybox and the Debian minbase rootfs: lxbox launch
#      --rm and into an existing container, bwrap, runc run, crun run (where it starts),
#      unshare -mpfiu and the bare host, one hyperfine run per rootfs; then the busybox
#      headline (host, bwrap, lxbox --rm, runc run, lxbox oci run) interleaved round by round;
#   2. cat of a 1 GiB file through the container's stdout against cat on the host;
#   3. peak RSS of lxbox, bwrap and runc for one launch;
#   4. launch --rm --integrate against launch --rm, interleaved (target: at most 1.2x).
# `lxbox oci run` runs the very bundle `runc run` does (runc spec's config, read-only root), and
# both again with docker's default seccomp profile in the bundle.
# Targets: lxbox launch --rm at least 5x faster than runc run and within 1.5x of bwrap, stdout
# throughput within 5% of the host's, peak RSS under 10 MiB (issue 3); lxbox oci run at least
# 4x faster than runc run (issue 5).
#   tools/bench/launch.sh [BUILD_DIR] [RUNS]       (root; default build/ and 100 runs)
# The Debian rootfs is built once with debootstrap and cached (tools/bench/lib.sh).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
runs="${2:-100}"
lxbox="$build/host/lxbox"
busybox_tar="$build/distro-images/busybox-rootfs.tar"

[ "$(id -u)" = 0 ] || { echo "launch.sh: needs root" >&2; exit 1; }
[ -x "$lxbox" ] && [ -r "$busybox_tar" ] || { echo "launch.sh: build lxbox first ($lxbox)" >&2; exit 1; }
for tool in hyperfine bwrap runc jq unshare; do
    command -v "$tool" >/dev/null || { echo "launch.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
. "$src/tools/bench/lib.sh"
ensure_debian_rootfs

work="$(mktemp -d /tmp/lxbox-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT INT TERM
export LXBOX_ROOT="$work/store"
mkdir -p "$work/busybox/rootfs" "$work/data"
tar -xf "$busybox_tar" -C "$work/busybox/rootfs"
"$lxbox" launch --rm -- /bin/true  # registers the embedded busybox distro (first use)
"$lxbox" -q import debian "$cache/rootfs.tar.zst"
declare -A rootfs=([busybox]="$work/busybox/rootfs" [debian]="$cache/rootfs")

# An OCI bundle per rootfs for runc and crun: `runc spec`, no terminal, /bin/true, rootfs read-only.
for d in busybox debian; do
    mkdir -p "$work/bundle-$d"
    (cd "$work/bundle-$d" && runc spec)
    jq --arg root "${rootfs[$d]}" '.process.terminal = false | .process.args = ["/bin/true"] |
        .root = {path: $root, readonly: true}' "$work/bundle-$d/config.json" >"$work/bundle-$d/c.json"
    mv "$work/bundle-$d/c.json" "$work/bundle-$d/config.json"
done

# The same bundles hardened: docker's default seccomp profile (containers-common's, as podman
# passes it) resolved for runc spec's three capabilities and x86-64, in OCI form.
seccomp_src=/usr/share/containers/seccomp.json
if [ -f "$seccomp_src" ]; then
    for d in busybox debian; do
        mkdir -p "$work/bundle-$d-seccomp"
        python3 - "$seccomp_src" "$work/bundle-$d/config.json" >"$work/bundle-$d-seccomp/config.json" <<'PY'
import json, sys
profile, config = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
caps = set(config["process"]["capabilities"]["bounding"])
rules = []
for s in profile["syscalls"]:
    inc, exc = s.get("includes") or {}, s.get("excludes") or {}
    if not set(inc.get("caps", [])) <= caps or exc.get("caps") and set(exc["caps"]) & caps:
        continue
    if inc.get("arches") and "amd64" not in inc["arches"] or "amd64" in exc.get("arches", []):
        continue
    rule = {k: s[k] for k in ("names", "action", "args", "errnoRet") if s.get(k) is not None}
    rules.append(rule)
seccomp = {"defaultAction": profile["defaultAction"], "syscalls": rules,
           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
if "defaultErrnoRet" in profile:
    seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"]
config["linux"]["seccomp"] = seccomp
print(json.dumps(config, indent=1))
PY
    done
fi

# crun refuses the v1/v2 hybrid cgroup layout of some hosts; it is timed where it starts.
crun_runs=no
if command -v crun >/dev/null &&
    crun --root "$work/crun" run -b "$work/bundle-busybox" probe >/dev/null 2>&1; then
    crun_runs=yes
fi

# The ratios the issue names, as a jq filter over {command: mean} (the commands timed are named).
ratio_text='"ratios: lxbox --rm / bwrap = \(."lxbox --rm" / .bwrap * 100 | round / 100)" +
    ", runc / lxbox --rm = \(."runc run" / ."lxbox --rm" * 10 | round / 10)" +
    ", runc run / lxbox oci run = \(."runc run" / ."lxbox oci run" * 10 | round / 10)" +
    (if ."runc run, seccomp" then ", with seccomp = \(."runc run, seccomp" / ."lxbox oci run, seccomp" * 10 | round / 10)" else "" end) +
    (if ."crun run" then ", crun / lxbox --rm = \(."crun run" / ."lxbox --rm" * 100 | round / 100)" else "" end)'
ratios() {  # hyperfine JSON -> the ratios
    jq -r ".results | map({(.command): .mean}) | add | $ratio_text" "$1"
}

for d in busybox debian; do
    echo "== start-to-exit of /bin/true, $d rootfs ($runs runs each)"
    set -- \
        -n host "/bin/true" \
        -n unshare "unshare -mpfiu --mount-proc /bin/true" \
        -n bwrap "bwrap --ro-bind ${rootfs[$d]} / --proc /proc --dev /dev --unshare-pid --unshare-ipc --unshare-uts /bin/true" \
        -n "lxbox --rm" "$lxbox launch $d --rm -T -- /bin/true" \
        -n "lxbox (existing container)" "$lxbox launch $d -T -- /bin/true" \
        -n "runc run" "runc --root $work/runc run -b $work/bundle-$d bench-$d" \
        -n "lxbox oci run" "$lxbox oci --root $work/oci run -b $work/bundle-$d bench-$d"
    if [ -f "$work/bundle-$d-seccomp/config.json" ]; then
        set -- "$@" -n "runc run, seccomp" "runc --root $work/runc run -b $work/bundle-$d-seccomp bench-$d" \
            -n "lxbox oci run, seccomp" "$lxbox oci --root $work/oci run -b $work/bundle-$d-seccomp bench-$d"
    fi
    [ "$crun_runs" = no ] || set -- "$@" -n "crun run" "crun --root $work/crun run -b $work/bundle-$d bench-$d"
    hyperfine -N --warmup 5 --runs "$runs" --style basic --export-json "$work/$d.json" \
        --export-markdown "$work/$d.md" "$@" >/dev/null
    cat "$work/$d.md"
    ratios "$work/$d.json"
done

# The headline ratios once more, interleaved: every round runs each command once, so a drift of
# this shared machine during one command's block cannot tilt them (tools/bench/interleave.py).
echo "== start-to-exit of /bin/true, busybox rootfs, interleaved ($((runs * 4)) rounds)"
python3 "$src/tools/bench/interleave.py" --json "$work/interleaved.json" "$((runs * 4))" 5 \
    host "/bin/true" \
    bwrap "bwrap --ro-bind ${rootfs[busybox]} / --proc /proc --dev /dev --unshare-pid --unshare-ipc --unshare-uts /bin/true" \
    "lxbox --rm" "$lxbox launch busybox --rm -T -- /bin/true" \
    "runc run" "runc --root $work/runc run -b $work/bundle-busybox bench-busybox" \
    "lxbox oci run" "$lxbox oci --root $work/oci run -b $work/bundle-busybox bench-busybox"
jq -r "$ratio_text" "$work/interleaved.json"

# An integrated launch (issue 20: as the invoking user, the home, the host's hosts file, the
# session's sockets where present) against a plain one, interleaved. Target: at most 1.2x.
echo "== launch --rm --integrate against launch --rm, busybox rootfs, interleaved ($((runs * 4)) rounds)"
mkdir -p "$work/home"
HOME="$work/home" python3 "$src/tools/bench/interleave.py" --json "$work/integrate.json" "$((runs * 4))" 5 \
    "lxbox --rm" "$lxbox launch busybox --rm -T -- /bin/true" \
    "lxbox --rm --integrate" "$lxbox launch busybox --rm --integrate -T -- /bin/true"
jq -r '"ratio: integrated / plain = \(."lxbox --rm --integrate" / ."lxbox --rm" * 100 | round / 100) (target <= 1.2)"' \
    "$work/integrate.json"

if [ "$crun_runs" = no ] && command -v crun >/dev/null; then
    # As in ../shared/research/measurements.md: crun starts here only with the cgroup v2 mount
    # of the hybrid layout hidden, so both are timed inside such a private mount namespace.
    echo "== crun (hybrid cgroups: timed with /sys/fs/cgroup/unified unmounted, private mount namespace)"
    unshare -m --propagation private bash -c "
        umount /sys/fs/cgroup/unified 2>/dev/null || true
        hyperfine -N --warmup 5 --runs $runs --style basic --export-json $work/crun.json \
            --export-markdown $work/crun.md \
            -n 'lxbox --rm' '$lxbox launch busybox --rm -T -- /bin/true' \
            -n 'crun run' 'crun --root $work/crun run -b $work/bundle-busybox bench-crun' >/dev/null" &&
        cat "$work/crun.md" &&
        jq -r '.results | map({(.command): .mean}) | add |
            "ratio: crun / lxbox --rm = \(."crun run" / ."lxbox --rm" * 100 | round / 100)"' "$work/crun.json" ||
        echo "crun did not start here either"
fi

echo "== stdout throughput: cat of a 1 GiB file to /dev/null (GNU cat on the host and in the Debian container)"
# Throughput is the bytes over the time beyond a bare start (cat minus true, each side): the
# container's stdout is the caller's own fd, so only the ~15 ms start differs, not the stream.
dd if=/dev/zero of="$work/data/big" bs=1M count=1024 status=none
hyperfine -N --warmup 2 --runs 20 --style basic --export-json "$work/cat.json" \
    --export-markdown "$work/cat.md" \
    -n "host true" "/bin/true" \
    -n "host cat" "cat $work/data/big" \
    -n "lxbox true" "$lxbox launch debian --rm -T -v $work/data:/data:ro -- true" \
    -n "lxbox cat" "$lxbox launch debian --rm -T -v $work/data:/data:ro -- cat /data/big" >/dev/null
cat "$work/cat.md"
jq -r '.results | map({(.command): .mean}) | add |
    (1024 / (."host cat" - ."host true")) as $host | (1024 / (."lxbox cat" - ."lxbox true")) as $lx |
    "throughput: host \($host | round) MiB/s, through lxbox \($lx | round) MiB/s" +
    " (lxbox / host = \($lx / $host * 1000 | round / 1000))"' "$work/cat.json"

echo "== peak RSS of one launch (max over 5 runs; the process and the children it waited for)"
peak() {
    local max=0 kb
    for _ in 1 2 3 4 5; do
        kb=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n1)
        [ "$kb" -gt "$max" ] && max=$kb
    done
    echo "$max"
}
printf '| %-22s | %8s |\n|---|---:|\n' command "peak RSS"
printf '| %-22s | %5d KiB |\n' "lxbox launch --rm" "$(peak "$lxbox" launch busybox --rm -T -- /bin/true)"
printf '| %-22s | %5d KiB |\n' "bwrap" "$(peak bwrap --ro-bind "${rootfs[busybox]}" / --proc /proc --dev /dev --unshare-pid /bin/true)"
printf '| %-22s | %5d KiB |\n' "runc run" "$(peak runc --root "$work/runc" run -b "$work/bundle-busybox" bench-rss)"
