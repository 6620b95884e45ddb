// What this host can do for lxbox, as plain data: filled by detect_host() (the only part that
// makes syscalls), read by the pure backend choice (host/backend) and printed by `lxbox doctor`.
// The JSON form (to_json/from_json) is the "host" object of `lxbox doctor --json`, documented
// key by key in docs/doctor.md: rename nothing here without updating that page.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace lxbox::detect {

enum class HostOs { Linux, Darwin, Windows, Unknown };
enum class CgroupLayout { None, V1, V2, Hybrid };

// How far /dev/kvm has been shown to work. A tiny KVM_RUN probe passing proves little: on
// nested-KVM hosts it passes while every real guest hangs in early boot (measured), so only
// the VM backend's own boot (remembered in $LXBOX_ROOT/vm/kvm-verdict.json) can say more.
enum class KvmState {
    Absent,                 // no /dev/kvm
    NoAccess,               // /dev/kvm exists but this user cannot open it
    ProbeFailed,            // it opens, but the API/VM/vcpu/KVM_RUN probe failed
    ProbeOkBootUnverified,  // the probe passed; no real guest boot verified yet
    BootVerified,           // a real guest booted under KVM with this kernel + QEMU
    BootHangs,              // a real guest hung under KVM with this kernel + QEMU
};

const char* to_string(HostOs os);
const char* to_string(CgroupLayout layout);
const char* to_string(KvmState state);
HostOs host_os_from_string(const std::string& s);              // Unknown for anything else
CgroupLayout cgroup_layout_from_string(const std::string& s);  // None for anything else
KvmState kvm_state_from_string(const std::string& s);          // Absent for anything else

// One real probe (a child that tried it): ok, or the reason it failed ("unshare(CLONE_NEWUSER):
// Operation not permitted").
struct ProbeResult {
    bool ok = false;
    std::string reason;

    bool operator==(const ProbeResult&) const = default;
};

// The sysctls that gate unprivileged user namespaces; -1 when the kernel has no such knob.
struct UsernsSysctls {
    long unprivileged_userns_clone = -1;  // Debian/Ubuntu kernels: 0 forbids it
    long max_user_namespaces = -1;        // 0 forbids user namespaces for everyone

    bool operator==(const UsernsSysctls&) const = default;
};

// What a rootless container can map besides the caller's own id.
struct RootlessIds {
    uint64_t subuids = 0, subgids = 0;  // subordinate ids /etc/subuid and /etc/subgid grant
    bool helpers = false;               // newuidmap and newgidmap found in PATH
    std::string user;                   // the caller's login name

    bool operator==(const RootlessIds&) const = default;
};

struct CgroupFacts {
    CgroupLayout layout = CgroupLayout::None;
    std::string v2_path;                          // cgroup2 mountpoint, "" when none
    std::vector<std::string> v1_controllers;      // controllers with a v1 hierarchy
    std::vector<std::string> v2_controllers;      // controllers in our v2 cgroup.controllers
    std::vector<std::string> usable_controllers;  // those whose cgroup dir this user can write
    std::string detail;                           // one line for humans

    bool operator==(const CgroupFacts&) const = default;
};

struct OverlayFacts {
    bool supported = false;     // listed in /proc/filesystems, or a probe mount worked
    bool in_userns = false;     // a real overlay mount worked in a new user+mount namespace
    std::string reason;         // why supported is what it is
    std::string userns_reason;  // why in_userns is what it is
    // fuse-overlayfs, the fallback where overlayfs is refused in a user namespace: the program
    // found on PATH ("" for none) and whether this user may open /dev/fuse.
    std::string fuse_program;
    bool fuse_device = false;
    std::string fuse_reason;  // why the fallback is (not) usable

    bool operator==(const OverlayFacts&) const = default;
};

struct SeccompFacts {
    bool supported = false;  // a trivial filter installed in a child
    int current_mode = -1;   // lxbox's own mode: 0 none, 1 strict, 2 filter; -1 unknown
    std::string reason;

    bool operator==(const SeccompFacts&) const = default;
};

struct KvmFacts {
    KvmState state = KvmState::Absent;
    int api_version = 0;  // KVM_GET_API_VERSION, 0 when not reached
    std::string detail;

    bool operator==(const KvmFacts&) const = default;
};

struct QemuBinary {
    std::string path;     // "" when not found in PATH
    std::string version;  // first line of `--version`, "" when not found or it failed

    bool operator==(const QemuBinary&) const = default;
};

// A binfmt_misc handler (/proc/sys/fs/binfmt_misc/NAME) for the ELF binaries of one arch, as
// qemu-user-static registers them: with it, the host kernel runs that arch's binaries through
// the interpreter (user-mode emulation). Only a handler with the F flag (the interpreter opened
// when it was registered) works in a container, where the interpreter's path does not exist.
struct BinfmtHandler {
    std::string name;         // the entry's name ("qemu-aarch64")
    std::string interpreter;  // "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    bool enabled = false;
    bool fix_binary = false;  // flag F

    bool operator==(const BinfmtHandler&) const = default;
};

struct HostFacts {
    HostOs os = HostOs::Unknown;
    std::string kernel_release;  // uname -r (Darwin: kern.osrelease; Windows: build)
    std::string arch;            // normalized: x86_64, aarch64, ...
    std::string distro;  // /etc/os-release PRETTY_NAME, or "macOS 14.5", "Windows 10.0.22631"
    std::string
        distro_id;  // /etc/os-release ID (+ ID_LIKE, space separated): picks the fix command
    bool is_root = false;
    long uid = -1;
    // "user", "mount", "pid", "net", "uts", "ipc", "cgroup" → probe. Empty off Linux.
    std::map<std::string, ProbeResult> namespaces;
    UsernsSysctls userns_sysctls;
    RootlessIds rootless_ids;
    CgroupFacts cgroup;
    OverlayFacts overlay;
    SeccompFacts seccomp;
    KvmFacts kvm;
    bool hvf_supported = false;   // macOS kern.hv_support
    bool whpx_supported = false;  // Windows Hypervisor Platform answers
    // "qemu-system-x86_64", "qemu-system-aarch64" → where and which version (both always listed).
    std::map<std::string, QemuBinary> qemu;
    // The arches lxbox can boot a guest of here (its agent and kernel exist for them): the
    // host's own; an aarch64 guest on x86-64 is not built yet.
    std::vector<std::string> guest_arches;
    // arch ("aarch64") → the enabled binfmt_misc handler for its ELF binaries. Read afresh by
    // each launch that needs it (a foreign-arch image): a handler can come and go at any time.
    std::map<std::string, BinfmtHandler> binfmt;

    bool operator==(const HostFacts&) const = default;
};

// The QEMU binary that runs guests of the given architecture ("x86_64" → qemu-system-x86_64).
std::string qemu_binary_for(const std::string& arch);

void to_json(nlohmann::json& j, const ProbeResult& v);
void from_json(const nlohmann::json& j, ProbeResult& v);
void to_json(nlohmann::json& j, const UsernsSysctls& v);
void from_json(const nlohmann::json& j, UsernsSysctls& v);
void to_json(nlohmann::json& j, const RootlessIds& v);
void from_json(const nlohmann::json& j, RootlessIds& v);
void to_json(nlohmann::json& j, const CgroupFacts& v);
void from_json(const nlohmann::json& j, CgroupFacts& v);
void to_json(nlohmann::json& j, const OverlayFacts& v);
void from_json(const nlohmann::json& j, OverlayFacts& v);
void to_json(nlohmann::json& j, const SeccompFacts& v);
void from_json(const nlohmann::json& j, SeccompFacts& v);
void to_json(nlohmann::json& j, const KvmFacts& v);
void from_json(const nlohmann::json& j, KvmFacts& v);
void to_json(nlohmann::json& j, const QemuBinary& v);
void from_json(const nlohmann::json& j, QemuBinary& v);
void to_json(nlohmann::json& j, const BinfmtHandler& v);
void from_json(const nlohmann::json& j, BinfmtHandler& v);
void to_json(nlohmann::json& j, const HostFacts& v);
void from_json(const nlohmann::json& j, HostFacts& v);

}  // namespace lxbox::detect
