#!/bin/bash
# VM numbers under TCG: cold boot to the agent's hello vs a bare PVH boot to a trivial /init,
# ping latency, host->guest channel ingest. Builds what it needs in BUILD (default build-vm).
#   tools/bench/vm.sh [BOOTS] [PINGS]
# Absolute times vary run to run on shared hosts: compare the ratio, taken in one run.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${BUILD:-$src/build-vm}"
if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target lxbox_vm_bench lxbox-agent vm_trivial_init >/dev/null
exec "$build/tests/vm/lxbox_vm_bench" "${1:-5}" "${2:-1000}"
