// The device cgroup: which device nodes a container's processes may create (mknod) and open.
// A root container keeps CAP_MKNOD (docker's default set), so without these rules it could
// make a node for the host's disk and read it. cgroup v1 has the devices controller
// (devices.deny / devices.allow, replayed in order); cgroup v2 has none, and the rules become a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the container's cgroup, as runc and crun do.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/write.hpp"

namespace lxbox::cgroups {

struct DeviceRule {
    bool allow = false;
    char type = 'a';         // 'a' all, 'c' character, 'b' block
    int64_t major = -1;      // -1 = any
    int64_t minor = -1;      // -1 = any
    std::string access = "rwm";  // some of r (read), w (write), m (mknod)
    bool operator==(const DeviceRule&) const = default;
};

// What every container may use: mknod of any node (it cannot open them), and null, zero, full,
// random, urandom, tty, console, ptmx, the pts devices and tun (runc's list).
std::vector<DeviceRule> default_allowed_devices();
// A deny-all, then default_allowed_devices(): launch's rules.
std::vector<DeviceRule> default_device_rules();

// "c 1:3 rwm", "a *:* rwm": the v1 files' syntax.
std::string device_rule_text(const DeviceRule& r);

// v1: the rules in order to devices.deny / devices.allow (the kernel's own semantics match the
// OCI list's: a later rule overrides an earlier one, "a" resets).
std::vector<Write> plan_devices_v1(const std::vector<DeviceRule>& rules);
// v2: one Write to the pseudo file kDeviceProgram carrying the rules; write_limits compiles it
// and attaches the program instead of writing a file.
inline constexpr const char* kDeviceProgram = "<bpf cgroup device program>";
std::vector<Write> plan_devices_v2(const std::vector<DeviceRule>& rules);
// The rules as Write::value carries them, and back. Invalid for a malformed line.
std::string encode_device_rules(const std::vector<DeviceRule>& rules);
Result<std::vector<DeviceRule>> decode_device_rules(const std::string& text);

// Pure: the BPF program for the rules. The last matching rule decides; none matching denies.
// Input is struct bpf_cgroup_dev_ctx (access_type = access << 16 | type, major, minor).
std::vector<bpf_insn> compile_device_program(const std::vector<DeviceRule>& rules);

// Loads the program and attaches it to the v2 cgroup at dir (BPF_F_ALLOW_MULTI: the parents'
// programs still apply). Unsupported without CAP_BPF/CAP_SYS_ADMIN.
Status attach_device_program(const std::string& dir, const std::vector<bpf_insn>& program);

}  // namespace lxbox::cgroups
