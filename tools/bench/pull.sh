#!/bin/bash
# Pull speed: `lxbox pull` against `podman pull` of the same multi-layer image (6 layers,
# >100 MB compressed: parts of this host's /usr, gzip'd) from a local registry (Debian's
# docker-registry on 127.0.0.1, plain HTTP), each into an empty store, so both download,
# verify and unpack everything. One hyperfine run; the ratio is what to compare.
#   tools/bench/pull.sh [RUNS]        (root; BUILD=build dir, default build; PODMAN=0 skips
#                                      podman; HELPER_BEFORE=path adds lxbox with that helper)
# The bar (issue 18): lxbox at least 2x faster than podman.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$src/build}"
runs="${1:-5}"
work=/var/tmp/lxbox-bench-pull

[ "$(id -u)" = 0 ] || { echo "pull.sh: run as root (podman's and lxbox's stores)" >&2; exit 1; }
for tool in hyperfine docker-registry skopeo podman jq gzip sha256sum python3; do
    command -v "$tool" >/dev/null || { echo "pull.sh: $tool not found (tools/setup --test)" >&2; exit 1; }
done
cmake --build "$build" --target lxbox lxbox-registry >/dev/null
lxbox="$build/host/lxbox"

rm -rf "$work" && mkdir -p "$work/layout/blobs/sha256"
cleanup() {
    if [ -n "${registry_pid:-}" ]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
    podman --root "$work/podman" --runroot "$work/podman-run" rmi -af >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The image: one layer per directory of /usr, bottom first.
blob() {  # FILE → moves it into the layout by digest, prints "digest size"
    local d; d=$(sha256sum "$1" | cut -d' ' -f1)
    mv "$1" "$work/layout/blobs/sha256/$d"
    echo "sha256:$d $(stat -c %s "$work/layout/blobs/sha256/$d")"
}
layers="" diff_ids=""
for dir in usr/sbin usr/share/perl usr/lib/python3 usr/share/man usr/share/locale usr/bin; do
    [ -d "/$dir" ] || continue
    tar -C / -cf "$work/layer.tar" "$dir"
    diff_ids="$diff_ids\"sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)\","
    gzip -n -1 "$work/layer.tar"
    read -r digest size < <(blob "$work/layer.tar.gz")
    layers="$layers{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$digest\",\"size\":$size},"
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/usr/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "${diff_ids%,}" > "$work/config.json"
read -r cdigest csize < <(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$cdigest" "$csize" "${layers%,}" > "$work/manifest.json"
read -r mdigest msize < <(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$mdigest" "$msize" > "$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
echo "image: $(jq '.layers | length' "$work/layout/blobs/sha256/${mdigest#sha256:}") layers," \
     "$(du -sh --apparent-size "$work/layout/blobs" | cut -f1) compressed"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
ref="127.0.0.1:$port/bench/img:v1"
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:v1" "docker://$ref"

# Cold page cache when the kernel lets us; every run starts from an empty store.
drop='sync; { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true'
pod="podman --root $work/podman --runroot $work/podman-run --storage-driver overlay"
commands=(--prepare "rm -rf $work/lxbox; $drop" -n lxbox "$lxbox -q --root $work/lxbox pull --insecure $ref")
# HELPER_BEFORE=path: lxbox also with another lxbox-registry (one without blob events, say, so
# that no layer is unpacked while the rest downloads), to measure that overlap.
if [ -n "${HELPER_BEFORE:-}" ]; then
    commands+=(--prepare "rm -rf $work/lxbox; $drop" -n "lxbox, helper $HELPER_BEFORE"
               "env LXBOX_REGISTRY_HELPER=$HELPER_BEFORE $lxbox -q --root $work/lxbox pull --insecure $ref")
fi
if [ "${PODMAN:-1}" != 0 ]; then
    commands+=(--prepare "$pod rmi -af >/dev/null 2>&1; rm -rf $work/podman $work/podman-run; $drop"
               -n podman "$pod pull -q --tls-verify=false $ref")
fi
hyperfine --runs "$runs" --export-json "$work/result.json" --style basic "${commands[@]}"
jq -r '.results | map({(.command): .mean}) | add | to_entries | .[0].value as $lxbox |
    .[] | select(.key != "lxbox") | "ratio (mean time): \(.key)/lxbox \(.value / $lxbox * 100 | round / 100)"' \
    "$work/result.json"
echo "(the bar: podman/lxbox >= 2)"
