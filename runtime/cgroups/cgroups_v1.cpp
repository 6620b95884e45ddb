// cgroup v1 specifics: OOM detection from memory.oom_control, and killing by the pid list
// (v1 has no cgroup.kill; v2 uses this too on kernels before 5.14).
#include <signal.h>

#include <charconv>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::cgroups::detail {

bool v1_oom_killed(const std::string& dir) {
    auto text = read_file(dir + "/memory.oom_control");
    if (!text) return false;
    // oom_kill counts kills since Linux 4.13; before that, under_oom only says the group is
    // at its limit with the OOM killer at work (or disabled) right now.
    if (auto kills = keyed_value(*text, "oom_kill")) return *kills > 0;
    return keyed_value(*text, "under_oom").value_or(0) > 0;
}

Status kill_listed_processes(const std::string& dir) {
    // A pid read here may exit and be reused before the kill; the window is a few µs, and
    // closing it would need the freezer hierarchy for every container (v2 has cgroup.kill).
    for (pid_t pid : LXBOX_TRY(read_cgroup_pids(dir))) {
        spdlog::debug("cgroup: kill -9 {} (left in {})", pid, dir);
        if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) return Error::last("kill " + std::to_string(pid));
    }
    return {};
}

}  // namespace lxbox::cgroups::detail
