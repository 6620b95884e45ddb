#!/bin/bash
# Localhost forwarding of the VM (host/vm/port_forward.hpp) against the other ways to reach a
# server, in one run. The same busybox httpd content is served three ways:
#   forwarded  a server in a vm container, reached at the host's 127.0.0.1:PORT with no -p: the
#              supervisor's listener, the channel (virtio-serial), the agent's loopback connect;
#   hostfwd    a second server in the same container published with -p (QEMU user-net hostfwd:
#              slirp's TCP stack, the guest's NIC);
#   direct     the same httpd on the host itself (no VM: the floor).
# Last, whether each VM path reaches a server bound to the guest's 127.0.0.1 only.
# Throughput: curl of a 64 MiB file; latency: ab, 1 connection at a time, a 13-byte file per
# request (connect + request + answer + close). Rounds interleaved, the order rotating.
# The guest runs under TCG here (nested KVM hangs); ratios only mean something within one run.
#   tools/bench/vm-portfwd.sh [BUILD_DIR] [ROUNDS]      (root; default build/ and 5 rounds)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
rounds="${2:-5}"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "vm-portfwd.sh: needs root" >&2; exit 1; }
for tool in curl ab busybox jq bc python3; do
    command -v "$tool" >/dev/null || { echo "vm-portfwd.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/lxbox-portfwd-bench.XXXXXX)"
export LXBOX_ROOT="$work/store"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$lxbox" vm stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM
# Ports the kernel hands out now (free on the host's loopback).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fwd=$(free_port); pub=$(free_port); guest_pub=$(free_port); direct=$(free_port)
mkdir -p "$work/www"
head -c 67108864 /dev/zero >"$work/www/big"
echo "hello, world" >"$work/www/small"
# First use: guest image, distro disk, KVM verdict (not timed).
"$lxbox" launch --rm --backend vm -- true
"$lxbox" launch --rm --backend vm -v "$work/www:/www" -p "$pub:$guest_pub" -- sh -c \
    "mkdir /srv; cp /www/big /www/small /srv/; httpd -f -p $fwd -h /srv & httpd -f -p $guest_pub -h /srv & exec sleep 3600" \
    >"$work/vm.log" 2>&1 &
pids+=($!)
busybox httpd -f -p "127.0.0.1:$direct" -h "$work/www" &
pids+=($!)
ready() { curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$1/small"; }
for i in $(seq 600); do ready "$fwd" && ready "$pub" && ready "$direct" && break; sleep 0.2; done
ready "$fwd" && ready "$pub" || { echo "vm-portfwd.sh: the servers did not answer"; cat "$work/vm.log"; exit 1; }
names=(forwarded hostfwd direct)
port_of() { case "$1" in forwarded) echo "$fwd" ;; hostfwd) echo "$pub" ;; direct) echo "$direct" ;; esac; }
echo "== throughput: curl of 64 MiB, $rounds rounds interleaved"
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        n=${names[$(((r + k) % 3))]}
        echo "$n $(curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$(port_of "$n")/big")"
    done
done >"$work/tput.txt"
echo "== latency: ab -n 200 -c 1 of a 13-byte file, $rounds rounds interleaved"
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        n=${names[$(((r + k) % 3))]}
        echo "$n $(ab -q -n 200 -c 1 "http://127.0.0.1:$(port_of "$n")/small" 2>/dev/null |
            awk '/^Time per request:/ {print $4; exit}')"
    done
done >"$work/lat.txt"
median() { awk -v k="$1" '$1 == k {print $2}' "$2" | sort -g | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
for n in "${names[@]}"; do
    printf '%-10s throughput median %8.1f MB/s   latency median %7.3f ms/request\n' "$n" \
        "$(echo "$(median "$n" "$work/tput.txt") / 1000000" | bc -l)" "$(median "$n" "$work/lat.txt")"
done
ratio() { echo "$(median "$1" "$3") / $(median "$2" "$3")" | bc -l; }
printf 'forwarded / hostfwd: throughput %.2fx, latency %.2fx\n' "$(ratio forwarded hostfwd "$work/tput.txt")" \
    "$(ratio forwarded hostfwd "$work/lat.txt")"
printf 'forwarded / direct:  throughput %.3fx, latency %.1fx\n' "$(ratio forwarded direct "$work/tput.txt")" \
    "$(ratio forwarded direct "$work/lat.txt")"
echo "== a server bound to the guest's 127.0.0.1 only"
lo=$(free_port); lo_pub=$(free_port); lo_guest=$(free_port)
"$lxbox" launch --rm --backend vm -p "$lo_pub:$lo_guest" -- sh -c \
    "mkdir /s; echo hi >/s/small; httpd -f -p 127.0.0.1:$lo_guest -h /s & httpd -f -p 127.0.0.1:$lo -h /s & exec sleep 3600" \
    >>"$work/vm.log" 2>&1 &
pids+=($!)
for i in $(seq 300); do ready "$lo" && break; sleep 0.2; done
ready "$lo" && echo "forwarded: answers" || echo "forwarded: no answer"
ready "$lo_pub" && echo "hostfwd (-p): answers" || echo "hostfwd (-p): no answer"
