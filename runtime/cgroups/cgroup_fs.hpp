// Internal to runtime/cgroups: the file-level steps shared by the v1, v2 and common code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/cgroups/cgroup.hpp"

namespace lxbox::cgroups::detail {

// Pure: the number after `key` in a flat-keyed cgroup file ("oom_kill 3\n..."), if any.
std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key);

// EACCES, EPERM, EROFS: this user may not write there.
bool permission_errno(int err);
// Writes one value to a cgroup file (logged at debug). EACCES/EPERM/EROFS → Unsupported.
Status write_cgroup_file(const std::string& path, const std::string& value);
// The pids listed in dir/cgroup.procs.
Result<std::vector<pid_t>> read_cgroup_pids(const std::string& dir);
// Executes a plan of limit writes in dir; a missing if_present file is skipped.
Status write_limits(const std::string& dir, const std::vector<Write>& writes);
// SIGKILLs every process listed in dir/cgroup.procs (the v1 way; v2 without cgroup.kill).
Status kill_listed_processes(const std::string& dir);

// v2: makes h.enable available in the lxbox group: enables them in its subtree_control, and in
// the own cgroup's first when the lxbox group does not get them yet. Never touches a cgroup
// above our own: that belongs to whoever placed us.
Status v2_enable_controllers(const Hierarchy& h, bool parent_is_new);
// v2: makes dir hand `controllers` down to its children (cgroup.subtree_control), where it does
// not yet.
Status v2_hand_down(const std::string& dir, const std::vector<std::string>& controllers);
// v2: kills every process of the subtree at once (cgroup.kill, Linux 5.14+). NotFound on older
// kernels.
Status v2_kill(const std::string& dir);
bool v2_oom_killed(const std::string& dir);
bool v1_oom_killed(const std::string& dir);

}  // namespace lxbox::cgroups::detail
