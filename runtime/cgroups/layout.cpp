// Pure: where the cgroup hierarchies are mounted, where this process sits in them, and which
// of them a container's cgroup needs. No syscalls here; cgroup.cpp feeds in the /proc text.
#include <algorithm>
#include <charconv>
#include <iterator>
#include <map>
#include <set>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/cgroups/cgroup_fs.hpp"

namespace lxbox::cgroups {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    for (;;) {
        size_t end = s.find(sep, start);
        out.push_back(
            s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return out;
        start = end + 1;
    }
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape_octal(std::string_view s) {
    auto oct = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
            out.push_back(
                static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
            continue;
        }
        out.push_back(s[i]);
    }
    return out;
}

// v1 super options that are not controllers.
bool is_v1_option(std::string_view opt) {
    static const std::set<std::string_view> kOptions = {
        "rw",    "ro",          "all", "none", "noprefix", "clone_children", "cpuset_v2_mode",
        "xattr", "favordynmods"};
    return kOptions.count(opt) > 0 || opt.starts_with("release_agent=");
}

bool is_named(std::string_view controller) {
    return controller.starts_with("name=");
}

}  // namespace

CgroupMounts parse_cgroup_mounts(std::string_view mountinfo) {
    CgroupMounts m;
    for (std::string_view line : split(mountinfo, '\n')) {
        auto f = split(line, ' ');
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        auto dash = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
        if (f.size() < 6 || dash == f.end() || f.end() - dash < 4) continue;
        std::string_view fstype = dash[1];
        if (fstype != "cgroup" && fstype != "cgroup2") continue;
        std::string root = unescape_octal(f[3]), mountpoint = unescape_octal(f[4]);
        if (fstype == "cgroup2") {
            // A later mount on the same mountpoint shadows the earlier one; otherwise first wins.
            if (m.v2_path.empty() || m.v2_path == mountpoint)
                m.v2_path = mountpoint;
            else
                continue;
        } else {
            bool any = false;
            for (std::string_view opt : split(dash[3], ',')) {
                if (is_v1_option(opt)) continue;
                std::string key(opt);
                auto it = m.v1_controllers.find(key);
                if (it == m.v1_controllers.end() || it->second == mountpoint) {
                    m.v1_controllers[key] = mountpoint;
                    any = true;
                }
            }
            if (!any) continue;
        }
        m.roots[mountpoint] = root;
    }
    bool v1_controllers = std::any_of(m.v1_controllers.begin(), m.v1_controllers.end(),
                                      [](const auto& kv) { return !is_named(kv.first); });
    if (!m.v2_path.empty())
        m.layout = v1_controllers ? Layout::Hybrid : Layout::V2;
    else if (!m.v1_controllers.empty())
        m.layout = Layout::V1;
    return m;
}

OwnCgroups parse_proc_cgroup(std::string_view text) {
    OwnCgroups own;
    for (std::string_view line : split(text, '\n')) {
        // hierarchy-ID:controller-list:path — the path may itself contain ':'.
        size_t a = line.find(':');
        size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
        if (b == std::string_view::npos) continue;
        std::string path(line.substr(b + 1));
        constexpr std::string_view kDeleted = " (deleted)";
        if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
        std::string_view controllers = line.substr(a + 1, b - a - 1);
        if (controllers.empty()) {
            own[""] = path;
            continue;
        }
        for (std::string_view c : split(controllers, ',')) own[std::string(c)] = path;
    }
    return own;
}

Status validate_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 200 && name[0] != '.' &&
              std::all_of(name.begin(), name.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
              });
    if (!ok)
        return Error(ErrorKind::Invalid,
                     "cgroup name '" + name +
                         "' must be 1-200 characters of [A-Za-z0-9_.-], not starting with '.'");
    return {};
}

namespace detail {

std::optional<uint64_t> keyed_value(std::string_view text, std::string_view key) {
    for (std::string_view line : split(text, '\n')) {
        if (line.size() <= key.size() || !line.starts_with(key) || line[key.size()] != ' ')
            continue;
        std::string_view num = line.substr(key.size() + 1);
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
        if (ec == std::errc()) return v;
    }
    return std::nullopt;
}

}  // namespace detail

Result<std::string> dir_in_mount(const std::string& mountpoint, const std::string& root,
                                 const std::string& path) {
    // In a cgroup namespace entered after the fact, /proc/self/cgroup shows "/.." paths: our own
    // cgroup is not under the namespace root and cannot be reached through this mount.
    if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos)
        return Error(ErrorKind::Unsupported,
                     "this process's cgroup '" + path + "' is not reachable under " + mountpoint);
    std::string rel;
    if (root == "/")
        rel = path;
    else if (path == root)
        rel = "/";
    else if (path.starts_with(root + "/"))
        rel = path.substr(root.size());
    else
        return Error(ErrorKind::Unsupported, "this process's cgroup " + path +
                                                 " is outside the subtree " + root +
                                                 " mounted at " + mountpoint);
    return rel == "/" ? mountpoint : mountpoint + rel;
}


Status validate_cgroups_path(const std::string& path) {
    auto bad = [&](const std::string& why) {
        return Error(ErrorKind::Invalid, "'" + path + "' " + why);
    };
    if (path.empty() || path == "/") return bad("names no cgroup");
    size_t b = path[0] == '/' ? 1 : 0;
    while (b <= path.size()) {
        size_t e = path.find('/', b);
        if (e == std::string::npos) e = path.size();
        const std::string part = path.substr(b, e - b);
        if (part.empty() && e != path.size()) return bad("has an empty component");
        if (part == "." || part == "..") return bad("must not contain '.' or '..'");
        b = e + 1;
    }
    return {};
}

Result<std::vector<Hierarchy>> plan_hierarchies(const CgroupMounts& mounts, const OwnCgroups& own,
                                                const Limits& limits) {
    return plan_hierarchies(mounts, own, plan_limits_v1(limits), plan_limits_v2(limits));
}

Result<std::vector<Hierarchy>> plan_hierarchies(const CgroupMounts& mounts, const OwnCgroups& own,
                                                const std::vector<Write>& v1_writes,
                                                const std::vector<Write>& v2_writes, const Place& place) {
    if (!place.cgroups_path.empty()) LXBOX_TRY_CTX(validate_cgroups_path(place.cgroups_path), "cgroupsPath");
    std::string rel = place.cgroups_path;
    while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
    const bool absolute = !rel.empty() && rel[0] == '/';
    if (absolute) rel = rel.substr(1);

    std::vector<Hierarchy> out;
    std::map<std::string, size_t> by_mountpoint;  // v1 co-mounts (cpu,cpuacct) share one Hierarchy
    auto hierarchy = [&](const std::string& label, const std::string& key,
                         const std::string& mp) -> Result<size_t> {
        if (auto it = by_mountpoint.find(mp); it != by_mountpoint.end()) return it->second;
        auto path = own.find(key);
        if (path == own.end())
            return Error(ErrorKind::Unsupported, "the " + label + " hierarchy at " + mp +
                                                     " is not listed in /proc/self/cgroup");
        auto root = mounts.roots.count(mp) ? mounts.roots.at(mp) : std::string("/");
        auto dir = LXBOX_TRY(dir_in_mount(mp, root, path->second));
        Hierarchy h{label, key.empty(), dir, {}, {}};
        if (!rel.empty()) {
            h.base = absolute ? mp : dir;
            h.path = rel;
        }
        out.push_back(std::move(h));
        by_mountpoint[mp] = out.size() - 1;
        return out.size() - 1;
    };
    auto v1_hierarchy = [&](const std::string& c) {
        return hierarchy(c, c, mounts.v1_controllers.at(c));
    };
    auto v2_hierarchy = [&]() { return hierarchy("unified", "", mounts.v2_path); };
    auto take = [](const std::vector<Write>& from, const std::string& controller, Hierarchy& h) -> Status {
        for (const auto& w : from) {
            if (w.controller != controller) continue;
            if (!w.refused.empty()) return Error(ErrorKind::Invalid, w.refused);
            h.writes.push_back(w);
        }
        return {};
    };
    auto writes_to = [](const std::vector<Write>& from, const std::string& controller) {
        return std::any_of(from.begin(), from.end(), [&](const Write& w) { return w.controller == controller; });
    };

    // Each controller as v1 names it and as v2 does ("" = none).
    static const std::pair<const char*, const char*> kControllers[] = {
        {"memory", "memory"}, {"cpu", "cpu"},         {"cpuset", "cpuset"}, {"pids", "pids"},
        {"blkio", "io"},      {"hugetlb", "hugetlb"}, {"net_cls", ""},      {"net_prio", ""},
        {"rdma", "rdma"},     {"misc", "misc"},       {"devices", "devices"}};
    std::vector<std::string> handled;
    for (const auto& [v1name, v2name] : kControllers) {
        handled.push_back(v1name);
        handled.push_back(v2name);
        const bool in_v2 = *v2name && writes_to(v2_writes, v2name);
        if (!writes_to(v1_writes, v1name) && !in_v2) continue;  // not limited
        // A controller is bound to v1 or to v2, never both: where it is mounted v1, use v1.
        if (mounts.v1_controllers.count(v1name)) {
            LXBOX_TRY(take(v1_writes, v1name, out[LXBOX_TRY(v1_hierarchy(v1name))]));
        } else if (*v2name && !mounts.v2_path.empty()) {
            Hierarchy& h = out[LXBOX_TRY(v2_hierarchy())];
            // v2 has no devices controller: its rules are a program attached to the cgroup.
            if (std::string_view(v2name) != "devices") h.enable.push_back(v2name);
            LXBOX_TRY(take(v2_writes, v2name, h));
        } else {
            return Error(ErrorKind::Unsupported,
                         std::string("no cgroup hierarchy has the ") + v1name +
                             " controller (neither cgroup v1 nor v2 mounts it)");
        }
    }
    // Files of no controller (linux.resources.unified's "cgroup.max.depth"): v2 only.
    for (const auto& w : v2_writes) {
        if (std::find(handled.begin(), handled.end(), w.controller) != handled.end()) continue;
        if (mounts.v2_path.empty())
            return Error(ErrorKind::Invalid, "linux.resources.unified." + w.file + ": needs cgroup v2");
        LXBOX_TRY(take(v2_writes, w.controller, out[LXBOX_TRY(v2_hierarchy())]));
        handled.push_back(w.controller);
    }

    // At an explicit place, as runc does: every hierarchy, so that an engine finds the
    // container in each (freezer for pause, devices, cpuacct for stats).
    if (!rel.empty()) {
        for (const auto& [controller, mountpoint] : mounts.v1_controllers) (void)LXBOX_TRY(v1_hierarchy(controller));
        if (!mounts.v2_path.empty()) (void)LXBOX_TRY(v2_hierarchy());
    }
    // Membership: one hierarchy that holds every process of the container, limited or not.
    // systemd's hybrid convention puts processes in the unified tree; on pure v1 its named
    // hierarchy plays that part. (Hybrid does not also use name=systemd: one tree is enough
    // to count and kill the container's processes, and each extra hierarchy costs a mkdir
    // and an rmdir per container.)
    if (!mounts.v2_path.empty()) {
        (void)LXBOX_TRY(v2_hierarchy());
    } else if (out.empty()) {
        for (const char* c : {"name=systemd", "pids", "memory", "cpu"})
            if (mounts.v1_controllers.count(c)) {
                (void)LXBOX_TRY(v1_hierarchy(c));
                break;
            }
    }
    if (out.empty()) return Error(ErrorKind::Unsupported, "no cgroup hierarchy is mounted");
    return out;
}

}  // namespace lxbox::cgroups
