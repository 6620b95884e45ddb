// User namespace effects of rootless mode: writing a child's id maps (directly, or through the
// setuid newuidmap/newgidmap), reading the maps a joined namespace has, and running a function as root of a fresh user namespace over a container's files.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::linux_fx {

// Who is calling, for rootless mode: ids, login name, subordinate ranges, helpers.
struct CallerIds {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;  // login name, "" when the passwd database has none
    std::vector<runtime::SubIdRange> subuids, subgids;  // from /etc/subuid, /etc/subgid
    bool helpers = false;                                // newuidmap and newgidmap in PATH
};
CallerIds caller_ids();

// The user namespace of the caller's containers in rootless mode (lxbox not run as root): the
// caller is root in it, and its subordinate ranges follow when the helpers exist. Disabled for
// root.
runtime::UserNamespaceSpec rootless_userns();

// Writes pid's uid_map and gid_map from u: through newuidmap/newgidmap when u.use_helpers,
// else directly, with setgroups denied first as the kernel requires of an unprivileged writer.
Status write_id_maps(pid_t pid, const runtime::UserNamespaceSpec& u);

// The ids pid's user namespace maps, and whether setgroups(2) is allowed in it.
runtime::IdMapsView id_maps_of(pid_t pid);
// The same of the process whose /proc directory proc is ("/proc/self").
runtime::IdMapsView id_maps_in(const std::string& proc);
// The same of the user namespace at path (a /proc/PID/ns/user link or a bound nsfs file), read
// by a child that joins it: host ids, for a namespace the caller's own is the parent of.
Result<runtime::IdMapsView> id_maps_of_namespace(const std::string& path);

// Runs fn in a child that is root of a new user namespace with u's maps: what rootless mode
// needs to remove files a container's users own (host ids from the caller's subordinate range).
Status run_in_userns(const runtime::UserNamespaceSpec& u, const std::function<Status()>& fn);

}  // namespace lxbox::linux_fx
