#!/bin/sh
# Run inside a --privileged lxbox container: mounts the cgroup hierarchies its
# /proc/self/cgroup names (v1, hybrid or v2), as a container engine does for a nested one, so
# the lxbox installed in it can make its containers' cgroups. lxbox leaves /sys/fs/cgroup empty.
set -eu
if [ "$(wc -l </proc/self/cgroup)" -eq 1 ]; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
    exit 0
fi
mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
while IFS=: read -r _ controllers _; do
    case "$controllers" in
        "") dir=unified; mkdir -p /sys/fs/cgroup/$dir; mount -t cgroup2 cgroup2 /sys/fs/cgroup/$dir ;;
        name=*) dir=${controllers#name=}; mkdir -p /sys/fs/cgroup/$dir
            mount -t cgroup -o "none,$controllers" cgroup /sys/fs/cgroup/$dir ;;
        *) dir=$controllers; mkdir -p /sys/fs/cgroup/$dir; mount -t cgroup -o "$controllers" cgroup /sys/fs/cgroup/$dir ;;
    esac
done </proc/self/cgroup
