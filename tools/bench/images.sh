#!/bin/bash
# Images: launch of /bin/true from a 5-layer image against the same rootfs as one layer
# (interleaved round by round: the difference is small), and the disk two images sharing a
# base take (du of the store's layers, beside what each image alone would take).
# Target (issue 18): the 5-layer launch within 1.1x of the one-layer one; the shared base once.
#   tools/bench/images.sh [BUILD_DIR] [ROUNDS]       (root; default build/ and 200 rounds)
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
rounds="${2:-200}"
lxbox="$build/host/lxbox"
[ "$(id -u)" = 0 ] || { echo "images.sh: needs root" >&2; exit 1; }
[ -x "$lxbox" ] || { echo "images.sh: build lxbox first ($lxbox)" >&2; exit 1; }
. "$src/tools/bench/lib.sh"
ensure_debian_rootfs
work="$(mktemp -d /var/tmp/lxbox-images-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
store="$work/store"
lx() { "$lxbox" --root "$store" --quiet "$@"; }

echo "== the Debian minbase rootfs as one layer (a rootfs import) and as a 5-layer OCI image"
python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/five" 5
lx import one "$cache/rootfs.tar.zst"
lx import five "$work/five"
lx images

echo "== launch --rm -- /bin/true, interleaved ($rounds rounds)"
python3 "$src/tools/bench/interleave.py" --json "$work/launch.json" "$rounds" 10 \
    "one layer" "$lxbox --root $store launch --rm one -- /bin/true" \
    "5 layers" "$lxbox --root $store launch --rm five -- /bin/true"
jq -r '"ratio 5 layers / one layer: \(.["5 layers"] / .["one layer"] * 1000 | round / 1000)"' "$work/launch.json"

echo "== disk: two images sharing the 4 base layers"
python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/a" 4 app-a "a"
python3 "$src/tools/bench/oci_layout.py" "$cache/rootfs" "$work/b" 4 app-b "b"
store="$work/shared"
lx import a "$work/a"
lx import b "$work/b"
lx images
layers=$(du -sb "$store/layers" | cut -f1)
one=$(jq '[.images[] | select(.name == "a") | .size_bytes] | .[0]' <(lx images --json))
echo "du -sb $store/layers: $layers bytes; image a alone: $one bytes; a + b: $((2 * one)) bytes"
echo "ratio layers on disk / one image: $(python3 -c "print(round($layers / $one, 3))")"
du -sh "$store/layers" "$store/blobs"
