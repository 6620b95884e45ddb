#!/bin/sh
# Runs in a fresh Debian container (deb_install_test.sh): installs the package as a user would,
# uses lxbox from its installed paths, then removes it and checks that no file of it is left.
set -eu
export DEBIAN_FRONTEND=noninteractive
step() { echo "--- $*"; }

step "apt-get install ./lxbox_*.deb"
apt-get update -qq
deb=$(ls /pkg/lxbox_*.deb)
# Every Recommends resolves (simulated: they are ~260 MB with their own recommends), then the
# package with only the QEMU the vm launch below needs.
recommends=$(dpkg-deb -f "$deb" Recommends | tr -d ' ' | tr ',' ' ')
plan=$(apt-get install -s "$deb")
for p in $recommends; do
    dpkg -s "$p" >/dev/null 2>&1 || echo "$plan" | grep -q "^Inst $p " ||
        { echo "Recommends: $p is not installable" >&2; exit 1; }
done
apt-get install -y -qq --no-install-recommends "$deb" qemu-system-x86 >/dev/null
dpkg -L lxbox | sort >/tmp/lxbox-files

step "from the installed paths"
test "$(command -v lxbox)" = /usr/bin/lxbox
lxbox --version
lxbox --version | grep -Eq '^lxbox [0-9.]+ \(commit [0-9a-f]{12}'
test -x /usr/libexec/lxbox/lxbox-agent
test -r /usr/share/lxbox/busybox-rootfs.tar
man -l /usr/share/man/man1/lxbox.1.gz >/dev/null 2>&1 || zcat /usr/share/man/man1/lxbox.1.gz | grep -q '^\.SH COMMANDS'
bash -c '. /usr/share/bash-completion/completions/lxbox && complete -p lxbox'
/t/cgroups-inside.sh
lxbox launch -- true
lxbox doctor >/tmp/doctor.txt || { cat /tmp/doctor.txt; exit 1; }
lxbox doctor --json | grep -q '"commit"'
lxbox import mine /usr/share/lxbox/busybox-rootfs.tar
lxbox list | grep -q ' mine '
test "$(lxbox launch mine --rm -- echo native)" = native
test "$(lxbox launch mine --backend vm --rm -- echo vm)" = vm
lxbox shutdown
lxbox rm busybox

# No file of the package is left: directories that other packages share (/usr/share/man/man1)
# stay, lxbox's own go too.
no_files_left() {
    ! dpkg -s lxbox >/dev/null 2>&1 || { echo "lxbox is still known to dpkg after $1" >&2; return 1; }
    left=0
    while read -r path; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            if [ ! -d "$path" ] || [ -z "${path##*lxbox*}" ]; then echo "left after $1: $path" >&2; left=1; fi
        fi
    done </tmp/lxbox-files
    return $left
}

step "apt-get remove"
apt-get remove -y -qq lxbox >/dev/null
no_files_left "apt-get remove"
step "apt-get purge"
dpkg -i "$deb" >/dev/null
apt-get purge -y -qq lxbox >/dev/null
no_files_left "apt-get purge"
