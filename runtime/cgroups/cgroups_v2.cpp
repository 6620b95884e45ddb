// cgroup v2 specifics: handing controllers down through cgroup.subtree_control, cgroup.kill,
// and OOM detection from memory.events.
#include <algorithm>
#include <sstream>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::cgroups::detail {
namespace {

bool listed(const std::string& space_separated, const std::string& controller) {
    std::istringstream in(space_separated);
    std::string word;
    while (in >> word)
        if (word == controller) return true;
    return false;
}

std::vector<std::string> missing_from(const std::string& listing,
                                      const std::vector<std::string>& wanted) {
    std::vector<std::string> out;
    std::copy_if(wanted.begin(), wanted.end(), std::back_inserter(out),
                 [&](const std::string& c) { return !listed(listing, c); });
    return out;
}

std::string plus_list(const std::vector<std::string>& controllers) {
    std::string s;
    for (const auto& c : controllers) s += (s.empty() ? "+" : " +") + c;
    return s;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& c : v) s += (s.empty() ? "" : ", ") + c;
    return s;
}

}  // namespace

Status v2_enable_controllers(const Hierarchy& h, bool parent_is_new) {
    if (h.enable.empty()) return {};
    const std::string parent = h.parent_dir();
    // Fast path, every container after the first: the lxbox group already hands them down.
    auto missing = h.enable;
    if (!parent_is_new)
        missing = missing_from(LXBOX_TRY(read_file(parent + "/cgroup.subtree_control")), h.enable);
    if (missing.empty()) return {};

    // What the lxbox group can receive is what our own cgroup hands down to its children.
    auto not_in_parent =
        missing_from(LXBOX_TRY(read_file(parent + "/cgroup.controllers")), missing);
    if (!not_in_parent.empty()) {
        auto unavailable =
            missing_from(LXBOX_TRY(read_file(h.own_dir + "/cgroup.controllers")), not_in_parent);
        if (!unavailable.empty())
            return Error(ErrorKind::Unsupported,
                         "cgroup v2 controller " + joined(unavailable) + " is not available in " +
                             h.own_dir + " (bound to cgroup v1, or not delegated to this cgroup)");
        auto st =
            write_cgroup_file(h.own_dir + "/cgroup.subtree_control", plus_list(not_in_parent));
        if (!st.ok() && st.error().errno_value == EBUSY)
            // The no-internal-process rule: a non-root cgroup that holds processes cannot hand
            // domain controllers to children. systemd gives a delegated scope for this.
            return Error(
                ErrorKind::Unsupported,
                "cannot enable the cgroup v2 controller " + joined(not_in_parent) + " below " +
                    h.own_dir +
                    ": it holds processes (no-internal-process rule); run lxbox in a delegated "
                    "cgroup, e.g. systemd-run --scope -p Delegate=yes");
        if (!st.ok())
            return std::move(st).context("enable the cgroup v2 controller " +
                                         joined(not_in_parent));
    }
    return std::move(write_cgroup_file(parent + "/cgroup.subtree_control", plus_list(missing)))
        .context("enable the cgroup v2 controller " + joined(missing));
}

Status v2_hand_down(const std::string& dir, const std::vector<std::string>& controllers) {
    auto missing = missing_from(LXBOX_TRY(read_file(dir + "/cgroup.subtree_control")), controllers);
    if (missing.empty()) return {};
    auto st = write_cgroup_file(dir + "/cgroup.subtree_control", plus_list(missing));
    if (!st.ok() && st.error().errno_value == EBUSY)
        return Error(ErrorKind::Unsupported,
                     "cannot enable the cgroup v2 controller " + joined(missing) + " below " + dir +
                         ": it holds processes (no-internal-process rule)");
    return std::move(st).context("enable the cgroup v2 controller " + joined(missing) + " below " + dir);
}

Status v2_kill(const std::string& dir) {
    return write_cgroup_file(dir + "/cgroup.kill", "1");
}

bool v2_oom_killed(const std::string& dir) {
    auto text = read_file(dir + "/memory.events");
    return text && keyed_value(*text, "oom_kill").value_or(0) > 0;
}

}  // namespace lxbox::cgroups::detail
