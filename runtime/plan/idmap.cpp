#include "runtime/plan/idmap.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace lxbox::runtime {

namespace {

bool parse_u32(const std::string& s, uint32_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

}  // namespace

std::vector<SubIdRange> parse_subids(const std::string& text, const std::string& user, uint32_t id) {
    std::vector<SubIdRange> out;
    std::istringstream in(text);
    std::string line;
    const std::string id_text = std::to_string(id);
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto a = line.find(':');
        const auto b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string who = line.substr(0, a);
        if (who != id_text && (user.empty() || who != user)) continue;
        SubIdRange r;
        if (!parse_u32(line.substr(a + 1, b - a - 1), r.start) || !parse_u32(line.substr(b + 1), r.count)) continue;
        if (r.count == 0 || uint64_t{r.start} + r.count > 0xffffffffull) continue;
        out.push_back(r);
    }
    return out;
}

static std::vector<IdMapping> plan_maps(uint32_t self, const std::vector<SubIdRange>& ranges, bool helpers) {
    std::vector<IdMapping> maps{{0, self, 1}};
    if (!helpers) return maps;
    // The kernel takes at most 340 lines; shadow's helpers fewer. Five ranges is plenty.
    uint64_t next = 1;
    for (const auto& r : ranges) {
        if (maps.size() == 5) break;
        // The caller's own id inside a range would be mapped twice: the kernel refuses overlaps.
        if (self >= r.start && self - r.start < r.count) continue;
        if (next + r.count > 0xffffffffull) break;
        maps.push_back({static_cast<uint32_t>(next), r.start, r.count});
        next += r.count;
    }
    return maps;
}

UserNamespaceSpec plan_rootless_userns(uid_t uid, gid_t gid, const std::vector<SubIdRange>& subuids,
                                       const std::vector<SubIdRange>& subgids, bool helpers_available) {
    UserNamespaceSpec u;
    u.enabled = true;
    // Both maps need a range for the helpers to be worth it: a uid range with a lone gid would
    // give files of users whose group the container cannot represent.
    const bool helpers = helpers_available && !subuids.empty() && !subgids.empty();
    u.uids = plan_maps(uid, subuids, helpers);
    u.gids = plan_maps(gid, subgids, helpers);
    u.use_helpers = u.uids.size() > 1 || u.gids.size() > 1;
    return u;
}

static std::vector<IdMapping> keep_id_maps(const std::vector<IdMapping>& maps, uint32_t id) {
    std::vector<IdMapping> out;
    uint64_t next = 0;
    std::optional<uint32_t> self;
    for (const auto& m : maps) {
        if (m.inside == 0 && m.count == 1) {
            self = m.outside;  // the caller, 0 in a plain rootless container
            continue;
        }
        uint64_t host = m.outside, left = m.count;
        while (left > 0) {
            if (next == id) ++next;  // kept for the caller
            const uint64_t span = next < id ? std::min<uint64_t>(left, id - next) : left;
            out.push_back({static_cast<uint32_t>(next), static_cast<uint32_t>(host), static_cast<uint32_t>(span)});
            next += span;
            host += span;
            left -= span;
        }
    }
    if (self) out.push_back({id, *self, 1});
    std::sort(out.begin(), out.end(), [](const IdMapping& a, const IdMapping& b) { return a.inside < b.inside; });
    return out;
}

UserNamespaceSpec keep_id_userns(const UserNamespaceSpec& rootless, uid_t uid, gid_t gid) {
    UserNamespaceSpec u = rootless;
    u.uids = keep_id_maps(rootless.uids, uid);
    u.gids = keep_id_maps(rootless.gids, gid);
    u.join.clear();  // the store's held namespace has the plain maps
    return u;
}

std::optional<uint32_t> host_id(const std::vector<IdMapping>& maps, uint32_t id) {
    for (const auto& m : maps)
        if (id >= m.inside && id - m.inside < m.count) return m.outside + (id - m.inside);
    return std::nullopt;
}

bool id_mapped(const std::vector<IdMapping>& maps, uint32_t id) {
    return host_id(maps, id).has_value();
}

uint64_t mapped_count(const std::vector<IdMapping>& maps) {
    uint64_t n = 0;
    for (const auto& m : maps) n += m.count;
    return n;
}

std::string id_map_text(const std::vector<IdMapping>& maps) {
    std::string out;
    for (const auto& m : maps)
        out += std::to_string(m.inside) + " " + std::to_string(m.outside) + " " + std::to_string(m.count) + "\n";
    return out;
}

std::vector<IdMapping> parse_id_map(const std::string& text) {
    std::vector<IdMapping> out;
    std::istringstream in(text);
    IdMapping m;
    while (in >> m.inside >> m.outside >> m.count) out.push_back(m);
    return out;
}

std::vector<std::string> id_map_helper_args(pid_t pid, const std::vector<IdMapping>& maps) {
    std::vector<std::string> args{std::to_string(pid)};
    for (const auto& m : maps) {
        args.push_back(std::to_string(m.inside));
        args.push_back(std::to_string(m.outside));
        args.push_back(std::to_string(m.count));
    }
    return args;
}

IdMapsView id_maps_view(const UserNamespaceSpec& u) {
    if (!u.enabled) return {};
    // newgidmap leaves setgroups allowed when it maps a range (shadow denies it only for a
    // lone id, CVE-2018-7169); a map lxbox writes itself needs it denied.
    return {true, u.uids, u.gids, u.use_helpers && u.gids.size() > 1};
}

static Error unmapped(const std::string& who, uint32_t id, bool is_group) {
    const char* file = is_group ? "/etc/subgid" : "/etc/subuid";
    return Error(ErrorKind::Invalid,
                 std::string(is_group ? "group " : "user ") + who + " (" + (is_group ? "gid " : "uid ") +
                     std::to_string(id) + ") has no host id in this rootless container: give your user a range in " +
                     file + " (usermod --add-subuids/--add-subgids) and install package uidmap");
}

Result<ResolvedUser> fit_user(ResolvedUser user, const IdMapsView& view) {
    if (!view.in_userns) return user;
    const std::string who = user.name.empty() ? std::to_string(user.uid) : user.name;
    if (!id_mapped(view.uids, user.uid)) return unmapped(who, user.uid, false);
    if (!id_mapped(view.gids, user.gid)) return unmapped(who + "'s primary group", user.gid, true);
    std::vector<gid_t> groups;
    if (view.setgroups_allowed) {
        for (gid_t g : user.groups)
            if (id_mapped(view.gids, g)) groups.push_back(g);
    }
    user.groups = std::move(groups);
    return user;
}

}  // namespace lxbox::runtime
