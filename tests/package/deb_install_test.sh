#!/bin/bash
# The Debian package, end to end (ctest labels e2e and vm): CPack builds it from this build,
# lxbox imports a fresh Debian bookworm (distro-images/debian.json: debootstrap from the mirror
# apt uses), and in a --privileged container of it inside.sh installs it with apt-get, runs
# launch, doctor, an import and a vm launch from the installed paths, then removes and purges it.
#   deb_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
lxbox=$build/host/lxbox
work=$(mktemp -d /var/tmp/lxbox-deb-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
store=$work/store

cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" || { cat "$work/cpack.log"; exit 1; }
rm -rf "$work/pkg/_CPack_Packages"
"$lxbox" --root "$store" -q import --script "$src/distro-images/debian.json" 2>"$work/import.log" ||
    { cat "$work/import.log"; exit 1; }
# The inner store on the host's disk: an overlay's upper directory cannot be on the overlay
# that is the container's root.
mkdir "$work/inner"
"$lxbox" --root "$store" launch debian --rm --privileged --network host \
    -v "$work/pkg:/pkg:ro" -v "$src/tests/package:/t:ro" -v "$work/inner:/var/lib/lxbox" \
    -e LXBOX_ROOT=/var/lib/lxbox -- sh /t/inside.sh
"$lxbox" --root "$store" unregister debian
echo "deb_install_test: passed"
