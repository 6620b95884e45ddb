// The QEMU command line of the utility VM, as a pure function of plain data: which
// accelerator, machine, kernel command line and devices a host gets. Effects (spawning QEMU,
// the KVM fallback) live in the VM manager; everything here is unit-tested without QEMU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lxbox::vm {

enum class HostOs { Linux, Darwin, Windows };
enum class Arch { X86_64, Aarch64 };
enum class Accel { Kvm, Hvf, Whpx, Tcg };

const char* to_string(HostOs os);
const char* to_string(Arch arch);
const char* to_string(Accel accel);
// Pure: Aarch64 for "aarch64", X86_64 otherwise.
Arch arch_from_string(const std::string& arch);

// The arch this lxbox was built for (the host's, as far as lxbox runs natively).
const char* build_arch();

// Pure: the guest arches lxbox boots on a host of host_arch, its own first: an x86-64 host
// boots the x86-64 guest (KVM or TCG) and the aarch64 one (TCG; its agent cross-compiled,
// guest-agent/CMakeLists.txt); an aarch64 host (Linux under KVM, a Mac under hvf) its own.
std::vector<std::string> guest_arches(const std::string& host_arch);

// The virtio-serial port the agent serves on; the guest finds it by this name in
// /sys/class/virtio-ports/*/name, never by number.
inline constexpr const char* kAgentPortName = "org.lxbox.agent.0";

// What the VM is built for: the host's OS, the guest's arch, and the accelerator the one backend
// decision chose (host/backend/choose_backend.hpp holds the rule; no second one here).
struct VmPlatform {
    HostOs os = HostOs::Linux;
    Arch arch = Arch::X86_64;    // the guest runs the host's architecture
    Accel accel = Accel::Tcg;    // backend::choose_backend's, or tcg after a KVM hang
    uint64_t tsc_khz = 0;        // host TSC rate (x86), 0 when unknown
    std::string qemu_path;       // explicit QEMU binary, else the default name on PATH
};

// A raw disk image attached as virtio-blk. The guest finds it by serial (/sys/block/*/serial):
// virtio-mmio devices probe in no order the command line fixes.
struct VmDisk {
    std::string path;
    bool readonly = true;
    std::string serial;  // at most 20 bytes of [A-Za-z0-9._-]; "" for none
};

struct VmConfig {
    std::string kernel;          // x86: the PVH-bootable vmlinux; aarch64: the Image
    std::string initrd;          // the newc cpio with the agent as /init
    std::string channel_socket;  // unix socket of the virtio-serial chardev (QEMU listens)
    std::string qmp_socket;      // unix socket of QMP (QEMU listens)
    std::string serial_log;      // the guest console, kept for `lxbox vm logs`
    unsigned memory_mib = 256;
    unsigned cpus = 1;
    // Guest kernel with mitigations=off: measured -0.2..0.4 s per boot under TCG; acceptable
    // because the utility VM is single-tenant (every process in it is the user's).
    bool mitigations_off = true;
    std::optional<Accel> force_accel;     // --accel, or the TCG retry after a KVM hang
    std::string extra_cmdline;            // appended to the kernel command line
    std::vector<VmDisk> disks;            // distro images and container disks, in order
    // QEMU's user-mode network (slirp) as netdev "net0" on a virtio NIC: the guest reaches
    // what the host reaches, without privileges; ports are published on it with hostfwd.
    bool user_network = true;
    // A host directory shared with the guest over 9p (virtio), mount tag kHostShareTag: where
    // -v and --share-cwd sources come from. "" for none.
    std::string host_share;
    bool host_share_passthrough = true;  // owners kept as they are (QEMU runs as root)
    // A virtio-scsi controller (id kHotplugBus) that disks can be hot-plugged on while the VM
    // runs (QMP device_add scsi-hd): virtio-mmio devices cannot come and go, SCSI disks can.
    bool hotplug_bus = true;
    std::vector<std::string> extra_args;  // appended to QEMU's argv
};

// Pure: microvm for x86 under kvm/tcg (fastest boot measured); q35 for x86 under hvf/whpx
// and for TCG without a known TSC rate (microvm hangs calibrating without tsc_early_khz);
// virt for aarch64.
std::string choose_machine(const VmPlatform& host, Accel accel);

// Pure: qemu-system-x86_64 or qemu-system-aarch64 (.exe on Windows) unless facts name one.
std::string qemu_binary(const VmPlatform& host);

// Pure: the guest kernel command line for this host and accelerator.
std::string kernel_cmdline(const VmConfig& config, const VmPlatform& host, Accel accel);

// The user-mode network's id in QEMU (hostfwd_add names it), and its DNS forwarder as the
// guest sees it (QEMU's default address; the agent sets up the rest of that network).
inline constexpr const char* kNetdevId = "net0";
inline constexpr const char* kUserNetDns = "10.0.2.3";

// The 9p mount tag of the host share.
inline constexpr const char* kHostShareTag = "lxbox-host";

// The id of the virtio-scsi controller hot-plugged disks go on (its bus: "scsi0.0").
inline constexpr const char* kHotplugBus = "scsi0";

// Pure: the QMP commands that hot-plug disk on the kHotplugBus controller: a blockdev-add of
// the file, then a device_add of a scsi-hd with the disk's serial (what the guest finds it by).
// Both named after the serial, so it is plugged once.
std::vector<std::pair<std::string, nlohmann::json>> hotplug_disk_commands(const VmDisk& disk);

// Pure: what unplugs a disk hotplug_disk_commands plugged: the device_del of its scsi-hd
// (QEMU then sends DEVICE_DELETED with data.device == device_id; the node is in use until
// then), and the blockdev-del that closes its file.
struct DiskUnplug {
    std::string device_id;
    std::pair<std::string, nlohmann::json> device_del;
    std::pair<std::string, nlohmann::json> blockdev_del;
};
DiskUnplug unplug_disk_commands(const std::string& serial);

// Pure: the full argv, argv[0] the QEMU binary.
std::vector<std::string> qemu_command(const VmConfig& config, const VmPlatform& host);

}  // namespace lxbox::vm
