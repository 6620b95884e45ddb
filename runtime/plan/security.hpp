// Pure decisions about how much of the kernel a container's process may reach: docker's
// defaults (capabilities, a seccomp allowlist with argument filters, masked and read-only
// /proc and /sys paths, no_new_privs), adjusted by --cap-add/--cap-drop, --seccomp and
// --privileged. runtime/linux/security.cpp carries the plan out; tests/unit checks it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::runtime {

// "CAP_NET_ADMIN", "NET_ADMIN", "net_admin" -> 12; nullopt for an unknown name.
std::optional<int> capability_number(std::string_view name);
// 12 -> "CAP_NET_ADMIN" ("CAP_<n>" for a number newer than this table).
std::string capability_name(int number);
// Docker's default set without NET_RAW (podman drops it too): CHOWN DAC_OVERRIDE FOWNER FSETID KILL
// SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
uint64_t default_capabilities();
constexpr uint64_t cap_bit(int number) { return uint64_t{1} << number; }

enum class SeccompAction { Allow, Errno, KillThread, KillProcess, Trap, Log };

// One comparison of a syscall argument (libseccomp's, one per argument in a rule).
struct SeccompArg {
    enum class Op { Eq, Ne, Lt, Le, Ge, Gt, MaskedEq };  // MaskedEq: (arg & mask) == value
    unsigned index = 0;
    Op op = Op::Eq;
    uint64_t value = 0;
    uint64_t mask = 0;
    bool low32 = false;  // compare the low 32 bits only (arguments the kernel takes as int)
};

struct SeccompRule {
    std::string syscall;
    SeccompAction action = SeccompAction::Allow;
    int errno_value = 0;  // Errno
    std::vector<SeccompArg> args;
};

// What a seccomp filter does: anything not matched by a rule gets the default action.
struct SeccompPlan {
    SeccompAction default_action = SeccompAction::Errno;
    int default_errno = 1;  // EPERM
    std::vector<SeccompRule> rules;
    // Refused even where `rules` allow the syscall, by a second filter that allows everything
    // else: one libseccomp filter cannot say "ioctl, but not TIOCSTI" (a syscall allowed
    // without arguments drops its rules with arguments, and a rule compares an argument only
    // once). The kernel runs every filter a process has and takes the strictest answer.
    std::vector<SeccompRule> refusals;
};

// Docker's default profile, for a process that keeps capabilities `caps`: an allowlist of
// the ordinary syscalls; the privileged ones only with their capability (mount family with
// SYS_ADMIN, reboot with SYS_BOOT, ...); clone without namespace flags, clone3 answering
// ENOSYS (so libc falls back to clone, which can be checked); personality only for the
// harmless personas; socket anything but AF_VSOCK; ioctl anything but TIOCSTI and TIOCLINUX
// (typing into a terminal's input, as snapd and flatpak refuse); keyctl, add_key,
// request_key, kexec, userfaultfd, swapon and the obsolete calls never.
SeccompPlan default_seccomp(uint64_t caps);

// A name for the compiled default filter of a process keeping `caps`, for caching it across
// launches without building the plan: a hash of the rule tables (taken at compile time), caps
// and `salt` (the libseccomp version and architecture).
std::string seccomp_cache_key(uint64_t caps, const std::string& salt);
// The same for any plan (a --seccomp profile): a hash of its rules.
std::string seccomp_plan_key(const SeccompPlan& plan, const std::string& salt);
// What that key hashes: every rule of the plan, in words (a cached filter is checked against it).
std::string seccomp_plan_text(const SeccompPlan& plan, const std::string& salt);

// Every capability set named on its own (an OCI process), as bit masks.
struct CapabilityMasks {
    uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
    bool operator==(const CapabilityMasks&) const = default;
};

struct SecurityPlan {
    bool privileged = false;
    uint64_t capabilities = 0;          // kept in bounding, permitted and effective (for root)
    // Instead of `capabilities`: each set as given, kept across the switch to any user.
    std::optional<CapabilityMasks> sets;
    bool no_new_privs = true;
    bool seccomp = true;                 // default_seccomp(capabilities); not when unconfined or privileged
    std::optional<SeccompPlan> profile;  // instead, a --seccomp profile's filter
    std::string seccomp_program;         // the filters compiled to BPF and packed, when the caller has them
};

// The whole plan; an unknown capability or seccomp mode, or a bad profile, is an Invalid error
// naming it. kernel_release decides a profile's minKernel rules ("" = new enough).
Result<SecurityPlan> plan_security(const SecuritySpec& spec, const std::string& kernel_release = "");
// The same checks without building the filter (cheap: for validating a spec).
Status validate_security(const SecuritySpec& spec);

// Docker's masked paths (bind-mounted over by /dev/null or an empty read-only tmpfs) and
// read-only paths, inside the container.
const std::vector<std::string>& masked_paths();
const std::vector<std::string>& readonly_paths();

}  // namespace lxbox::runtime
