// The caller's ids for rootless mode, and the subordinate ranges /etc/subuid and /etc/subgid
// give them.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/plan/users.hpp"

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
    // The name from /etc/passwd, read directly: getpwuid would make a static lxbox load the
    // NSS modules of the glibc it was built with. shadow's newuidmap reads the same files, and
    // /etc/subuid may name the user by uid instead, which parse_subids matches too.
    if (auto passwd = read_file("/etc/passwd")) {
        auto user = runtime::resolve_user(std::to_string(c.uid), runtime::parse_passwd(*passwd), {});
        if (user) c.user = user->name;  // "" when the uid has no entry
    }
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
