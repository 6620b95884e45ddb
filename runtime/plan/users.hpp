// The container's users and groups, read from its own /etc/passwd and /etc/group (never the
// host's: the same name can mean another uid in the distro). Pure parsing and resolution.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "runtime/base/error.hpp"

namespace lxbox::runtime {

struct PasswdEntry {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home, shell;
};

struct GroupEntry {
    std::string name;
    gid_t gid = 0;
    std::vector<std::string> members;
};

struct ResolvedUser {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups, primary gid included
    std::string name;           // "" when the uid has no passwd entry
    std::string home = "/";
    std::string shell = "/bin/sh";
    bool exact_groups = false;  // setgroups(groups) even when empty (an OCI process's own list)
};

std::vector<PasswdEntry> parse_passwd(const std::string& text);
std::vector<GroupEntry> parse_group(const std::string& text);

// Resolves -u "" | NAME | UID [":" GROUP | GID]; a numeric uid without an entry is allowed
// (gid 0, home /), as docker does; an unknown name is an error.
Result<ResolvedUser> resolve_user(const std::string& spec, const std::vector<PasswdEntry>& passwd,
                                  const std::vector<GroupEntry>& groups);

// "UID" or "UID:GID", numbers only (`oci exec --user`, runc's rule): anything else, such as
// "12abc" or "-1", is Invalid rather than read as far as it goes. A missing GID is 0.
struct NumericUser {
    uint32_t uid = 0, gid = 0;
    bool operator==(const NumericUser&) const = default;
};
Result<NumericUser> parse_numeric_user(const std::string& spec);

}  // namespace lxbox::runtime
