// What the agent does as PID 1 of the utility VM: the early mounts, kernel modules, reaping
// orphans, the clock, and powering off. Each a thin wrapper over the syscalls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::agent {

// Moves the root off the initial ramfs onto an empty tmpfs (what switch_root does, without
// copying anything over): pivot_root, which every container's start needs, refuses the
// initial ramfs as the root it replaces.
Status leave_initramfs();
// proc, sysfs (+ cgroup2), devtmpfs (+ devpts, /dev/shm), tmpfs on /tmp and /run.
Status mount_early_filesystems();

// The guest's side of QEMU's user-mode network (slirp): its fixed addresses, so no DHCP
// client is needed. The host's loopback is the gateway's address seen from the guest.
inline constexpr const char* kGuestAddress = "10.0.2.15";
inline constexpr const char* kGuestNetmask = "255.255.255.0";
inline constexpr const char* kGuestGateway = "10.0.2.2";
inline constexpr const char* kGuestDns = "10.0.2.3";

// The runtime's cache in the guest (ContainerSpec::cache_dir: what host/vm/vm_run.cpp puts in
// a Run's spec), on the guest's tmpfs.
inline constexpr const char* kGuestCacheDir = "/run/lxbox/cache";

// Runtime cache entries the host compiled into the image (the default seccomp filter; host/vm
// kGuestCacheInImage), copied into kGuestCacheDir at boot.
inline constexpr const char* kImageCacheDir = "/lib/lxbox/cache";

// Copies every file of the directory fd from (kImageCacheDir, opened before the root left the
// initramfs) into the directory to (kGuestCacheDir), made if needed. A cache: an entry that
// fails is compiled again by the first container that needs it.
Status install_image_cache(int from, const std::string& to);

// lo up, then the first other interface (waiting a moment for it to probe) up with the
// addresses above and the default route through the gateway. NotFound when the VM has no NIC.
Status bring_up_network();

// Reaps every exited child (PID 1 inherits every orphan in the VM).
void reap_children();

// Sets CLOCK_REALTIME: the VM's RTC is not trusted, the host's hello carries its time.
Status set_clock(int64_t realtime_ns);

// sync, then power off (reboot(2) with RB_POWER_OFF); returns only if that failed.
Status power_off();

// /dev/<port> of the virtio-serial port with this name, found in /sys/class/virtio-ports/*/name
// ("" when not there yet).
std::string find_port(const std::string& name);

// /dev/<disk> of the disk whose serial the host set, "" when no disk has it: a virtio-blk disk
// (/sys/block/*/serial) or a hot-plugged SCSI disk (its VPD page 0x80,
// /sys/block/*/device/vpd_pg80).
std::string find_disk(const std::string& serial);

// Pure: the unit serial number in a SCSI VPD page 0x80 as sysfs gives it (a 4-byte header
// whose last two bytes are the length, then the serial, maybe space-padded); "" when the
// bytes are not such a page.
std::string vpd_serial(const std::string& page);

// The disk with this serial, waiting for it to appear (up to timeout): a hot-plugged disk's
// node comes with the SCSI scan, once the agent loaded the hot-plug modules
// (ModulePhase::Hotplug). NotFound when it did not come.
Result<std::string> wait_for_disk(const std::string& serial, std::chrono::milliseconds timeout);

// Lets the disk with this serial go before the host unplugs it: unmounts it from target (not
// mounted is fine), removes the empty target and, for a SCSI disk, deletes its device (so the
// unplug finds nothing of it in use). Busy when something still uses the mount.
Status detach_disk(const std::string& serial, const std::string& target);

}  // namespace lxbox::agent
