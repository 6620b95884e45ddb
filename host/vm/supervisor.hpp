// The VM supervisor (DESIGN.md "Who owns the VM"): `lxbox vm serve`, started on demand and
// detached, owns the QEMU process and the only connection to the agent's virtio-serial port,
// and multiplexes the sessions of every CLI client onto it. Clients reach it on a unix socket
// in the VM dir and speak the channel's own framing (runtime/proto), so a client runs a
// container exactly as if it held the port itself. The supervisor also:
//   - sends the agent a ping every heartbeat interval; no pong within the deadline means a
//     silent port or a hung guest: every session fails with a message and the VM is killed
//     (the next launch boots a fresh one);
//   - resyncs the guest clock (a Hello with the host's time) when a client connects and the
//     last sync is old, so a host that slept does not leave the guest's clock behind;
//   - attaches the disks a Run needs: a distro imported or replaced after the VM booted is
//     hot-plugged (QMP: a SCSI disk on the virtio-scsi controller); should that fail, the VM
//     reboots with it when no session runs, else the launch is refused with a clear line;
//   - lets go of a distro disk no longer on file (the distro was unregistered, or re-imported
//     and its disk rebuilt) once no session uses it: the agent unmounts it, then a hot-plugged
//     disk is unplugged (QMP device_del, blockdev-del) and its file closed; a disk the VM
//     booted with (virtio-mmio, which cannot unplug) stays open until the VM stops;
//   - forwards the guest's listening TCP ports to the host's 127.0.0.1 (host/vm/port_forward.hpp);
//   - powers the VM off after it was idle for the configured time, or when asked.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/vm/host_facts.hpp"
#include "host/vm/qemu_command.hpp"
#include "runtime/base/error.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::vm {

// Where a VM dir keeps what the supervisor owns.
struct VmPaths {
    std::string dir;
    std::string socket;           // the clients' socket
    std::string lock;             // flock held by the running supervisor
    std::string start_lock;       // flock of a client starting a supervisor
    std::string channel;          // QEMU's virtio-serial chardev socket
    std::string qmp;              // QEMU's QMP socket
    std::string console_log;      // the guest's serial console (`lxbox vm logs`)
    std::string supervisor_log;   // the supervisor's own stderr
    std::string containers_disk;  // the kept containers' changes (ext4, sparse)
};
// Pure.
VmPaths vm_paths(const std::string& vm_dir);

// Pure: the VM dir of the guest of `arch` in the store at root: the host's own arch's VM keeps
// $ROOT/vm (where it was before there was a second), another arch's is $ROOT/vm/<arch>. Each
// has its own supervisor, sockets, guest image, distro disks and containers disk, so the VMs
// of both arches run at once, each on its own.
std::string vm_dir_for(const std::string& root, const std::string& arch, const std::string& host_arch);
// vm_dir_for this host (build_arch()); "" = the host's arch.
std::string vm_dir_for(const std::string& root, const std::string& arch);

// The containers disk's serial in the guest and where the agent mounts it.
inline constexpr const char* kContainersDiskSerial = "lxbox-containers";
inline constexpr const char* kGuestContainersDir = "/run/lxbox/containers";
// Pure: where the agent mounts a distro disk (a rebuilt distro's disk has a new serial, so a
// new place).
std::string guest_image_dir(const std::string& serial);

struct SupervisorOptions {
    std::string vm_dir;
    VmConfig vm;  // kernel, initrd, memory, cpus; sockets, logs and disks are filled in here
    VmPlatform facts;
    uint64_t containers_disk_bytes = 64ull << 30;
    std::chrono::seconds idle_timeout{300};  // 0: never
    std::chrono::milliseconds heartbeat_interval{2000};
    // Generous: a TCG guest under load answers late, and a false alarm kills sessions.
    std::chrono::milliseconds heartbeat_deadline{20000};
    std::function<void(const std::string&)> notice;  // one-line notices (the KVM fallback)
};

// What `lxbox vm status` shows.
struct VmStatus {
    bool running = false;
    int pid = 0;       // the supervisor
    int qemu_pid = 0;
    std::string accel;
    int64_t boot_ms = 0;
    std::string started;  // RFC 3339
    unsigned memory_mib = 0;
    unsigned cpus = 0;
    uint64_t sessions = 0;
    uint64_t clients = 0;
    std::vector<std::string> disks;  // serials attached besides the containers disk
    // Of those, the ones unmounted in the guest whose files QEMU holds until it stops (a
    // removed distro's disk the VM booted with).
    std::vector<std::string> held_disks;
    // Guest ports forwarded from the host's 127.0.0.1 at the same port (host/vm/port_forward.hpp).
    std::vector<uint16_t> forwarded_ports;
    int64_t heartbeat_us = 0;        // the last heartbeat's round trip
    int64_t idle_timeout_s = 0;
};
void to_json(nlohmann::json& j, const VmStatus& s);
void from_json(const nlohmann::json& j, VmStatus& s);

// Pure: the disks to boot with when `wanted` must be attached and `have` are: wanted first,
// then as many of have as fit in `max` (older distro disks drop out first).
std::vector<proto::AttachDisk> disks_to_boot(const std::vector<proto::AttachDisk>& have,
                                             const std::vector<proto::AttachDisk>& wanted, size_t max);

// Pure: the attached distro disks to let go: those whose serial is not on file any more that no
// open session uses (a session's Attach named it).
std::vector<std::string> disks_to_detach(const std::vector<std::string>& attached, const std::set<std::string>& on_file,
                                         const std::set<std::string>& in_use);

// Runs the supervisor in this process until the VM stops (idle, `vm stop`, a signal, QEMU
// gone). ready() is called once: with success after the VM's hello with the clients' socket
// listening, or with why the VM could not boot (then serve returns that too).
Status serve(SupervisorOptions options, const std::function<void(const Status&)>& ready);

}  // namespace lxbox::vm
