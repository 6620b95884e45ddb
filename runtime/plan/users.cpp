#include "runtime/plan/users.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

namespace lxbox::runtime {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string::npos) return out;
        start = pos + 1;
    }
}

template <class T>
std::optional<T> parse_id(const std::string& s) {
    T v{};
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

template <class Fn>
void for_each_line(const std::string& text, Fn fn) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        fn(line);
    }
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(const std::string& text) {
    std::vector<PasswdEntry> out;
    for_each_line(text, [&](const std::string& line) {
        auto f = split(line, ':');
        if (f.size() < 7) return;
        auto uid = parse_id<uid_t>(f[2]);
        auto gid = parse_id<gid_t>(f[3]);
        if (!uid || !gid) return;
        out.push_back(PasswdEntry{f[0], *uid, *gid, f[5], f[6]});
    });
    return out;
}

std::vector<GroupEntry> parse_group(const std::string& text) {
    std::vector<GroupEntry> out;
    for_each_line(text, [&](const std::string& line) {
        auto f = split(line, ':');
        if (f.size() < 3) return;
        auto gid = parse_id<gid_t>(f[2]);
        if (!gid) return;
        GroupEntry g{f[0], *gid, {}};
        if (f.size() >= 4 && !f[3].empty()) g.members = split(f[3], ',');
        out.push_back(std::move(g));
    });
    return out;
}

static Result<ResolvedUser> resolve_uid_part(const std::string& part, const std::vector<PasswdEntry>& passwd) {
    ResolvedUser u;
    const auto uid = parse_id<uid_t>(part);
    auto it = std::find_if(passwd.begin(), passwd.end(), [&](const PasswdEntry& e) {
        return uid ? e.uid == *uid : e.name == part;
    });
    if (it == passwd.end()) {
        if (!uid) return Error(ErrorKind::NotFound, "no user '" + part + "' in the container's /etc/passwd");
        u.uid = *uid;  // like docker: a bare uid needs no entry
        return u;
    }
    u.uid = it->uid;
    u.gid = it->gid;
    u.name = it->name;
    if (!it->home.empty()) u.home = it->home;
    if (!it->shell.empty()) u.shell = it->shell;
    return u;
}

Result<ResolvedUser> resolve_user(const std::string& spec, const std::vector<PasswdEntry>& passwd,
                                  const std::vector<GroupEntry>& groups) {
    const auto colon = spec.find(':');
    const std::string user_part = spec.empty() ? "0" : spec.substr(0, colon);
    auto u = LXBOX_TRY(resolve_uid_part(user_part.empty() ? "0" : user_part, passwd));
    if (colon != std::string::npos) {
        const std::string group_part = spec.substr(colon + 1);
        const auto gid = parse_id<gid_t>(group_part);
        auto it = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& g) {
            return gid ? g.gid == *gid : g.name == group_part;
        });
        if (it != groups.end()) u.gid = it->gid;
        else if (gid) u.gid = *gid;
        else return Error(ErrorKind::NotFound, "no group '" + group_part + "' in the container's /etc/group");
    }
    u.groups.push_back(u.gid);
    if (!u.name.empty()) {
        for (const auto& g : groups) {
            if (std::find(g.members.begin(), g.members.end(), u.name) != g.members.end() &&
                std::find(u.groups.begin(), u.groups.end(), g.gid) == u.groups.end())
                u.groups.push_back(g.gid);
        }
    }
    return u;
}

Result<NumericUser> parse_numeric_user(const std::string& spec) {
    const auto colon = spec.find(':');
    const auto uid = parse_id<uint32_t>(spec.substr(0, colon));
    const auto gid = colon == std::string::npos ? std::optional<uint32_t>(0) : parse_id<uint32_t>(spec.substr(colon + 1));
    if (!uid || !gid) return Error(ErrorKind::Invalid, "expected UID[:GID] (numbers), got '" + spec + "'");
    return NumericUser{*uid, *gid};
}

}  // namespace lxbox::runtime
