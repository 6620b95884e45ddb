// Integrated containers: the pure plan of what is shared, and the reads of the host session.
#include "host/launch/integrate.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "runtime/base/unique_fd.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/plan/users.hpp"

namespace lxbox::launch {

namespace {

// A file's text, "" when it cannot be read (absent: an image without /etc/group).
std::string text_or_empty(const std::string& path) {
    auto text = read_file(path);
    return text ? std::move(*text) : std::string();
}

bool under(const std::string& path, const std::string& dir) {
    if (dir.empty() || path.empty()) return false;
    if (dir == "/") return true;
    return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string get(const HostSession& s, const std::string& key) {
    auto it = s.env.find(key);
    return it == s.env.end() ? "" : it->second;
}

// The X11 cookie file: $XAUTHORITY, else ~/.Xauthority (what libXau reads by default).
std::string xauthority(const HostSession& s) {
    const std::string set = get(s, "XAUTHORITY");
    if (!set.empty()) return set;
    return s.user.home.empty() ? "" : s.user.home + "/.Xauthority";
}

// The session bus socket of a "unix:path=/run/user/1000/bus[,guid=...]" address; "" for an
// abstract or a tcp one (abstract sockets are shared with the host's network namespace).
std::string dbus_socket(const HostSession& s) {
    const std::string addr = get(s, "DBUS_SESSION_BUS_ADDRESS");
    const std::string prefix = "unix:path=";
    if (addr.rfind(prefix, 0) != 0) return "";
    const std::string path = addr.substr(prefix.size(), addr.find(',') - prefix.size());
    return !path.empty() && path[0] == '/' ? path : "";
}

}  // namespace

const std::vector<std::string>& session_variables() {
    static const std::vector<std::string> vars = {
        "HOME",    "LANG",  "LANGUAGE",      "LC_ALL",          "TZ",          "DISPLAY", "XAUTHORITY",
        "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "PULSE_SERVER", "DBUS_SESSION_BUS_ADDRESS", "SHELL", "USER"};
    return vars;
}

std::string timezone_from_link(const std::string& link) {
    const std::string marker = "zoneinfo/";
    const auto at = link.rfind(marker);
    if (at == std::string::npos || at + marker.size() == link.size()) return "";
    return link.substr(at + marker.size());
}

std::vector<std::string> candidate_paths(const HostSession& s) {
    std::vector<std::string> out;
    if (!s.user.home.empty()) out.push_back(s.user.home);
    if (!get(s, "DISPLAY").empty()) {
        out.push_back("/tmp/.X11-unix");
        if (const auto xa = xauthority(s); !xa.empty()) out.push_back(xa);
    }
    const std::string runtime_dir = get(s, "XDG_RUNTIME_DIR");
    if (!runtime_dir.empty()) {
        out.push_back(runtime_dir);
        out.push_back(runtime_dir + "/pulse/native");
    }
    if (const auto bus = dbus_socket(s); !bus.empty()) out.push_back(bus);
    out.push_back("/dev/dri");
    return out;
}

Integration plan_integration(const HostSession& s) {
    Integration in;
    in.account = s.user;
    in.hosts = s.hosts;
    auto present = [&](const std::string& p) { return !p.empty() && s.present.count(p) > 0; };
    // One bind per tree: a path under a tree already shared comes with it.
    auto share = [&](const std::string& path) {
        if (!present(path)) return false;
        if (std::none_of(in.binds.begin(), in.binds.end(), [&](const auto& b) { return under(path, b.source); }))
            in.binds.push_back({path, path, false});
        return true;
    };
    auto carry = [&](const std::string& key, const std::string& value) {
        if (!value.empty()) in.env.push_back(key + "=" + value);
    };
    share(s.user.home);
    carry("HOME", s.user.home);  // yours, where the distro's passwd may name another (root: /root)
    for (const char* k : {"LANG", "LANGUAGE", "LC_ALL"}) carry(k, get(s, k));
    carry("TZ", get(s, "TZ").empty() ? timezone_from_link(s.localtime_link) : get(s, "TZ"));
    if (!get(s, "DISPLAY").empty() && share("/tmp/.X11-unix")) {
        carry("DISPLAY", get(s, "DISPLAY"));
        if (share(xauthority(s))) carry("XAUTHORITY", xauthority(s));
    }
    const std::string runtime_dir = get(s, "XDG_RUNTIME_DIR");
    if (share(runtime_dir)) {
        carry("XDG_RUNTIME_DIR", runtime_dir);
        carry("WAYLAND_DISPLAY", get(s, "WAYLAND_DISPLAY"));
        carry("PULSE_SERVER", !get(s, "PULSE_SERVER").empty() ? get(s, "PULSE_SERVER")
                              : present(runtime_dir + "/pulse/native") ? "unix:" + runtime_dir + "/pulse/native"
                                                                       : "");
    }
    const std::string bus = dbus_socket(s);
    if (bus.empty() || share(bus)) carry("DBUS_SESSION_BUS_ADDRESS", get(s, "DBUS_SESSION_BUS_ADDRESS"));
    in.gpu = share("/dev/dri");
    // The cwd is kept, as distrobox keeps it: under the home it is the host's own directory;
    // elsewhere the host's would have to be bound over the distro's (/etc, /usr), so it is the
    // container's directory of that path where there is one, else the home.
    in.cwd = s.cwd;
    return in;
}

HostSession vm_session(const HostSession& s) {
    HostSession v = s;
    for (const char* k : {"DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "PULSE_SERVER",
                          "DBUS_SESSION_BUS_ADDRESS"})
        v.env.erase(k);
    v.present.clear();
    if (s.present.count(s.user.home)) v.present.insert(s.user.home);
    return v;
}

std::vector<runtime::BindMount> host_mount_binds(const std::string& setting, const std::string& home) {
    if (setting == "none" || setting.empty()) return {};
    if (setting == "home") return home.empty() || home == "/" ? std::vector<runtime::BindMount>{}
                                                             : std::vector<runtime::BindMount>{{home, home, false}};
    return {{"/", setting, false}};
}

void integrate_process(runtime::ProcessSpec& process, const Integration& in) {
    if (process.user.empty()) process.user = in.account.name;
    std::vector<std::string> env = in.env;
    env.insert(env.end(), process.env.begin(), process.env.end());  // -e wins (plan_env: the last)
    process.env = std::move(env);
    if (process.cwd.empty() && !in.cwd.empty()) {
        process.cwd = in.cwd;
        process.cwd_or_home = true;
    }
}

Status integrate(runtime::ContainerSpec& spec, const HostSession& host_session, bool in_vm) {
    const HostSession session = in_vm ? vm_session(host_session) : host_session;
    const Integration in = plan_integration(session);
    integrate_process(spec.process, in);
    spec.binds.insert(spec.binds.begin(), in.binds.begin(), in.binds.end());
    spec.account = in.account;
    spec.hosts = in.hosts;
    spec.gpu = in.gpu;
    if (!spec.process.security.no_new_privs) spec.process.security.no_new_privs = false;
    if (spec.userns.enabled && !in_vm) {
        if (!spec.userns.use_helpers)
            return Error(ErrorKind::Unsupported,
                         "without root, an integrated container needs a subordinate id range for your user "
                         "(usermod --add-subuids/--add-subgids, and newuidmap from package uidmap): your uid inside "
                         "is your own, and the container's root needs another");
        spec.userns = runtime::keep_id_userns(spec.userns, session.user.uid, session.user.gid);
    }
    return {};
}

Result<HostSession> read_host_session() {
    HostSession s;
    for (const auto& k : session_variables())
        if (const char* v = std::getenv(k.c_str()); v && *v) s.env[k] = v;
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    // The host's files, parsed as the container's are: lxbox is static, so no NSS module is
    // loaded (a user known only to LDAP gets $USER and $HOME).
    const auto passwd = runtime::parse_passwd(text_or_empty("/etc/passwd"));
    const auto groups = runtime::parse_group(text_or_empty("/etc/group"));
    auto& u = s.user;
    u.uid = uid;
    u.gid = gid;
    u.name = s.env.count("USER") ? s.env["USER"] : std::to_string(uid);
    u.shell = s.env.count("SHELL") ? s.env["SHELL"] : "/bin/sh";
    for (const auto& e : passwd) {
        if (e.uid != uid) continue;
        u.name = e.name;
        u.home = e.home;
        u.shell = e.shell;
        break;
    }
    if (s.env.count("HOME") && s.env["HOME"][0] == '/') u.home = s.env["HOME"];
    if (u.home.empty()) u.home = "/";
    auto group_name = [&](gid_t g) {
        for (const auto& e : groups)
            if (e.gid == g) return e.name;
        return std::string();
    };
    u.group_name = group_name(gid);
    std::vector<gid_t> gids(::getgroups(0, nullptr) > 0 ? ::getgroups(0, nullptr) : 0);
    if (!gids.empty() && ::getgroups(static_cast<int>(gids.size()), gids.data()) < 0)
        return Error::last("read the caller's groups");
    for (gid_t g : gids)
        if (g != gid) u.groups.push_back({g, group_name(g)});
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) s.cwd = cwd;
    char link[512];
    const ssize_t n = ::readlink("/etc/localtime", link, sizeof link - 1);
    if (n > 0) s.localtime_link.assign(link, static_cast<size_t>(n));
    s.hosts = text_or_empty("/etc/hosts");
    for (const auto& p : candidate_paths(s))
        if (::access(p.c_str(), F_OK) == 0) s.present.insert(p);
    return s;
}

}  // namespace lxbox::launch
