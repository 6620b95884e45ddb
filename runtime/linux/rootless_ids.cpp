// The caller's ids for rootless mode: its own file so that the static guest agent, which uses
// the rest of namespaces.cpp, does not link the passwd database (getpwuid).
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/namespaces.hpp"

namespace lxbox::linux_fx {

namespace {

bool on_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    const std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (size_t pos = 0; pos <= dirs.size();) {
        size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        const std::string dir = dirs.substr(pos, end - pos);
        if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
        pos = end + 1;
    }
    return false;
}

}  // namespace

CallerIds caller_ids() {
    CallerIds c;
    c.uid = ::geteuid();
    c.gid = ::getegid();
    if (const struct passwd* pw = ::getpwuid(c.uid)) c.user = pw->pw_name;
    auto subuid = read_file("/etc/subuid");
    auto subgid = read_file("/etc/subgid");
    // shadow keys /etc/subgid by user name (or uid) too, not by group.
    c.subuids = runtime::parse_subids(subuid ? *subuid : "", c.user, c.uid);
    c.subgids = runtime::parse_subids(subgid ? *subgid : "", c.user, c.uid);
    c.helpers = on_path("newuidmap") && on_path("newgidmap");
    return c;
}

runtime::UserNamespaceSpec rootless_userns() {
    if (::geteuid() == 0) return {};
    const CallerIds c = caller_ids();
    return runtime::plan_rootless_userns(c.uid, c.gid, c.subuids, c.subgids, c.helpers);
}

}  // namespace lxbox::linux_fx
