#include "runtime/plan/accounts.hpp"

#include <algorithm>
#include <sstream>

#include "runtime/plan/users.hpp"

namespace lxbox::runtime {

namespace {

std::string with_line(const std::string& text, const std::string& line) {
    std::string out = text;
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out + line + "\n";
}

bool has_group_gid(const std::vector<GroupEntry>& groups, gid_t gid) {
    return std::any_of(groups.begin(), groups.end(), [&](const GroupEntry& g) { return g.gid == gid; });
}

bool has_group_name(const std::vector<GroupEntry>& groups, const std::string& name) {
    return std::any_of(groups.begin(), groups.end(), [&](const GroupEntry& g) { return g.name == name; });
}

// The group file with user added to the members of the first group of gid (unchanged when the
// user is already one, or is the group's own primary member by name).
std::string add_member(const std::string& text, gid_t gid, const std::string& user, bool& changed) {
    std::istringstream in(text);
    std::string line, out;
    bool done = false;
    while (std::getline(in, line)) {
        const auto groups = done ? std::vector<GroupEntry>{} : parse_group(line);
        if (!groups.empty() && groups[0].gid == gid) {
            done = true;
            const auto& m = groups[0].members;
            if (std::find(m.begin(), m.end(), user) == m.end()) {
                line += (line.back() == ':' ? "" : ",") + user;
                changed = true;
            }
        }
        out += line + "\n";
    }
    return out;
}

}  // namespace

AccountChanges plan_account(const AccountFiles& files, const AccountSpec& a) {
    AccountChanges c;
    const auto passwd = parse_passwd(files.passwd);
    const bool known = std::any_of(passwd.begin(), passwd.end(), [&](const PasswdEntry& e) { return e.name == a.name; });
    if (!known) {
        const std::string shell = files.shell_exists && !a.shell.empty() ? a.shell : "/bin/sh";
        c.passwd = with_line(files.passwd, a.name + ":x:" + std::to_string(a.uid) + ":" + std::to_string(a.gid) + ":" +
                                               a.name + ":" + a.home + ":" + shell);
        if (files.has_shadow && files.shadow.find(a.name + ":") != 0 &&
            files.shadow.find("\n" + a.name + ":") == std::string::npos)
            c.shadow = with_line(files.shadow, a.name + ":!::0:99999:7:::");
    }
    std::string group = files.group;
    bool group_changed = false;
    auto groups = parse_group(group);
    if (!has_group_gid(groups, a.gid) && !a.group_name.empty() && !has_group_name(groups, a.group_name)) {
        group = with_line(group, a.group_name + ":x:" + std::to_string(a.gid) + ":");
        group_changed = true;
    }
    for (const auto& g : a.groups) {
        if (g.gid == a.gid) continue;
        groups = parse_group(group);
        if (has_group_gid(groups, g.gid)) {
            group = add_member(group, g.gid, a.name, group_changed);
        } else if (!g.name.empty() && !has_group_name(groups, g.name)) {
            group = with_line(group, g.name + ":x:" + std::to_string(g.gid) + ":" + a.name);
            group_changed = true;
        }
    }
    if (group_changed) c.group = group;
    if (files.has_sudo && !files.has_sudoers_entry && a.uid != 0) c.sudoers = a.name + " ALL=(ALL:ALL) NOPASSWD: ALL\n";
    return c;
}

}  // namespace lxbox::runtime
