#include "runtime/plan/bundle.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <map>

namespace lxbox::runtime {

namespace {

struct FlagOption {
    const char* name;
    bool clear;
    unsigned long flag;
};

constexpr FlagOption kFlagOptions[] = {
    {"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},          {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},       {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},        {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS}, {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},    {"nomand", true, MS_MANDLOCK},    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},  {"diratime", true, MS_NODIRATIME}, {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
};

const std::map<std::string, unsigned long>& propagation_options() {
    static const std::map<std::string, unsigned long> table = {
        {"private", MS_PRIVATE},          {"rprivate", MS_PRIVATE | MS_REC}, {"shared", MS_SHARED},
        {"rshared", MS_SHARED | MS_REC},  {"slave", MS_SLAVE},             {"rslave", MS_SLAVE | MS_REC},
        {"unbindable", MS_UNBINDABLE},    {"runbindable", MS_UNBINDABLE | MS_REC}};
    return table;
}

// "/a/b/c" -> "/a", "/a/b" (the parents a mount point needs).
std::vector<std::string> parents(const std::string& path) {
    std::vector<std::string> out;
    for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1))
        out.push_back(path.substr(0, pos));
    return out;
}

// Collapses "//" and drops a trailing "/" ("/dev//pts/" -> "/dev/pts").
std::string clean(const std::string& path) {
    std::string out;
    for (char c : path) {
        if (c == '/' && !out.empty() && out.back() == '/') continue;
        out += c;
    }
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
}

}  // namespace

MountOptions parse_mount_options(const std::vector<std::string>& options) {
    MountOptions m;
    for (const auto& o : options) {
        if (o == "bind" || o == "rbind") {
            m.bind = true;
            if (o == "rbind") m.recursive = true;  // flags add up, as MS_BIND | MS_REC do
            continue;
        }
        if (auto it = propagation_options().find(o); it != propagation_options().end()) {
            m.propagation = it->second;
            continue;
        }
        // runc's own extension for a tmpfs over an image directory: nothing to copy from here.
        if (o == "tmpcopyup") continue;
        bool known = false;
        for (const auto& f : kFlagOptions) {
            if (o != f.name) continue;
            known = true;
            m.flags = f.clear ? (m.flags & ~f.flag) : (m.flags | f.flag);
        }
        if (known) continue;
        if (!m.data.empty()) m.data += ',';
        m.data += o;
    }
    return m;
}

int namespace_flag(const std::string& type) {
    static const std::map<std::string, int> table = {
        {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET},   {"mount", CLONE_NEWNS},    {"ipc", CLONE_NEWIPC},
        {"uts", CLONE_NEWUTS}, {"user", CLONE_NEWUSER},     {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME}};
    auto it = table.find(type);
    return it == table.end() ? 0 : it->second;
}

bool NamespacePlan::has(int flag) const {
    if (create & static_cast<uint64_t>(flag)) return true;
    if (flag == CLONE_NEWPID && !join_pid.empty()) return true;
    if (flag == CLONE_NEWUSER && !join_user.empty()) return true;
    for (const auto& [f, path] : join)
        if (f == flag) return true;
    return false;
}

Result<NamespacePlan> plan_namespaces(const BundleSpec& bundle) {
    NamespacePlan plan;
    int seen = 0;
    for (size_t i = 0; i < bundle.namespaces.size(); ++i) {
        const auto& ns = bundle.namespaces[i];
        const std::string field = "linux.namespaces[" + std::to_string(i) + "]";
        const int flag = namespace_flag(ns.type);
        if (flag == 0) return Error(ErrorKind::Invalid, field + ".type: unknown namespace type '" + ns.type + "'");
        if (seen & flag) return Error(ErrorKind::Invalid, field + ": namespace type '" + ns.type + "' is listed twice");
        seen |= flag;
        if (ns.path.empty()) {
            plan.create |= static_cast<uint64_t>(flag);
            continue;
        }
        if (ns.path[0] != '/') return Error(ErrorKind::Invalid, field + ".path: '" + ns.path + "' is not absolute");
        if (flag == CLONE_NEWUSER)
            plan.join_user = ns.path;
        else if (flag == CLONE_NEWPID)
            plan.join_pid = ns.path;
        else if (flag == CLONE_NEWNS)
            plan.join.insert(plan.join.begin(), {flag, ns.path});  // before the others: they may be paths in it
        else
            plan.join.emplace_back(flag, ns.path);
    }
    return plan;
}

std::vector<MountOp> plan_bundle_mounts(const BundleSpec& bundle, const CgroupView& cgroups, bool userns,
                                        bool new_netns) {
    std::vector<MountOp> ops;
    auto dir = [&](const std::string& t) { ops.push_back({MountOpKind::MakeDir, t, "", 0, "", 0755}); };
    // A destination is resolved inside the root, through its symlinks (runc's securejoin),
    // except proc's and sysfs's: those go on an ordinary directory only (runc's rule too: a
    // link there has been the way to mount them over a mask or onto the host).
    const auto follows = [](const std::string& fs) { return fs != "proc" && fs != "sysfs"; };
    auto mnt = [&](const std::string& t, const std::string& fs, const std::string& source, unsigned long flags,
                   const std::string& data, unsigned long propagation) {
        MountOp op{MountOpKind::Mount, t, fs, flags, data};
        op.source = source;
        op.propagation = propagation;
        op.follow_symlinks = follows(fs);
        ops.push_back(std::move(op));
    };
    auto host_bind = [&](const std::string& t, const std::string& source, unsigned long flags, bool recursive,
                         unsigned long propagation) {
        MountOp op{MountOpKind::HostBind, t, "", flags};
        op.source = source;
        op.recursive = recursive;
        op.propagation = propagation;
        op.follow_symlinks = true;
        ops.push_back(std::move(op));
    };
    auto link = [&](const std::string& t, const std::string& to) {
        MountOp op{MountOpKind::Symlink, t};
        op.link = to;
        ops.push_back(std::move(op));
    };
    bool dev_mounted = false;
    for (const auto& m : bundle.mounts) {
        const std::string dest = clean(m.destination);
        const MountOptions o = parse_mount_options(m.options);
        for (const auto& p : parents(dest)) dir(p);
        if (dest == "/dev") dev_mounted = true;
        if (o.bind || m.type == "bind") {
            host_bind(dest, m.source, o.flags, o.recursive, o.propagation);
            continue;
        }
        if (m.type == "cgroup" || m.type == "cgroup2") {
            dir(dest);
            const unsigned long flags = o.flags | MS_NOSUID | MS_NODEV | MS_NOEXEC;
            if (cgroups.v2_only || m.type == "cgroup2") {
                if (!cgroups.v2_source.empty())
                    host_bind(dest, cgroups.v2_source, flags, false, 0);
                else
                    mnt(dest, "cgroup2", "cgroup2", flags, "", 0);
                continue;
            }
            // v1: a tmpfs holding one mount per hierarchy, read-only afterwards if asked.
            mnt(dest, "tmpfs", "cgroup", flags & ~MS_RDONLY, "mode=755", 0);
            for (const auto& h : cgroups.v1) {
                dir(dest + "/" + h.dir);
                if (!h.source.empty())
                    host_bind(dest + "/" + h.dir, h.source, flags, false, 0);
                else
                    mnt(dest + "/" + h.dir, "cgroup", "cgroup", flags, h.options, 0);
                // cpu,cpuacct is also reachable as cpu and cpuacct, as on the host.
                if (h.dir.find(',') != std::string::npos) {
                    for (size_t b = 0, e; b < h.dir.size(); b = e + 1) {
                        e = h.dir.find(',', b);
                        if (e == std::string::npos) e = h.dir.size();
                        link(dest + "/" + h.dir.substr(b, e - b), h.dir);
                    }
                }
            }
            if (!cgroups.v2_dir.empty()) {
                dir(dest + "/" + cgroups.v2_dir);
                if (!cgroups.v2_source.empty())
                    host_bind(dest + "/" + cgroups.v2_dir, cgroups.v2_source, flags, false, 0);
                else
                    mnt(dest + "/" + cgroups.v2_dir, "cgroup2", "cgroup2", flags, "", 0);
            }
            // The tmpfs itself, in place (a read-only bind over it would stack a second tree).
            if (o.flags & MS_RDONLY) {
                MountOp op{MountOpKind::Remount, dest};
                op.flags = flags;
                ops.push_back(std::move(op));
            }
            continue;
        }
        dir(dest);
        // A user namespace may mount proc and sysfs only while the host's are visible.
        if (userns && (m.type == "proc" || m.type == "sysfs")) {
            if (m.type == "sysfs" && !new_netns) {
                host_bind(dest, "/sys", o.flags | MS_RDONLY, true, 0);
                ops.back().follow_symlinks = false;  // sysfs's place, as for a sysfs mount
            } else {
                MountOp op{MountOpKind::EarlyMount, dest, m.type, o.flags, o.data};
                op.source = m.source;  // "proc on /proc" in /proc/mounts, as without a user namespace
                ops.push_back(std::move(op));
            }
            continue;
        }
        mnt(dest, m.type, m.source, o.flags, o.data, o.propagation);
    }
    if (dev_mounted) {
        // The devices every OCI container has (runtime-spec: "Default Devices").
        const struct {
            const char* path;
            unsigned major, minor;
        } devices[] = {{"/dev/null", 1, 3}, {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                       {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
        for (const auto& d : devices) {
            if (userns) {
                host_bind(d.path, d.path, 0, false, 0);
            } else {
                ops.push_back({MountOpKind::MakeDevice, d.path, "", 0, "", 0666, d.major, d.minor});
            }
        }
        link("/dev/ptmx", "pts/ptmx");
        link("/dev/fd", "/proc/self/fd");
        link("/dev/stdin", "/proc/self/fd/0");
        link("/dev/stdout", "/proc/self/fd/1");
        link("/dev/stderr", "/proc/self/fd/2");
    }
    // linux.devices: made like the default ones (bound from the host in a user namespace,
    // where mknod is not allowed).
    for (const auto& d : bundle.devices) {
        const std::string target = clean(d.path);
        for (const auto& p : parents(target)) dir(p);
        if (userns) {
            host_bind(target, d.path, 0, false, 0);
            continue;
        }
        MountOp op{MountOpKind::MakeDevice, target, "", 0, "", d.mode & 07777,
                   static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor)};
        op.device_type = d.type == 'u' ? 'c' : d.type;
        op.uid = d.uid;
        op.gid = d.gid;
        ops.push_back(std::move(op));
    }
    for (const auto& [key, value] : bundle.sysctl) {
        std::string path = "/proc/sys/" + key;
        for (size_t i = 10; i < path.size(); ++i)
            if (path[i] == '.') path[i] = '/';
        MountOp op{MountOpKind::WriteFile, path};
        op.data = value;
        ops.push_back(std::move(op));
    }
    for (const auto& p : bundle.masked_paths) ops.push_back({MountOpKind::Mask, clean(p)});
    for (const auto& p : bundle.readonly_paths) ops.push_back({MountOpKind::ReadOnly, clean(p)});
    if (bundle.rootfs_readonly) ops.push_back({MountOpKind::ReadOnly, "/"});
    return ops;
}

CgroupView cgroup_view(const cgroups::CgroupMounts& mounts, const cgroups::OwnCgroups* own) {
    CgroupView view;
    auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
    // The container's directory in the hierarchy mounted at mp ("" when unknown: mount afresh).
    auto source = [&](const std::string& mp, const std::string& key) -> std::string {
        if (!own || !own->count(key)) return "";
        const std::string root = mounts.roots.count(mp) ? mounts.roots.at(mp) : "/";
        auto dir = cgroups::dir_in_mount(mp, root, own->at(key));
        return dir ? *dir : "";
    };
    if (mounts.layout == cgroups::Layout::V2) {
        view.v2_only = true;
        view.v2_source = source(mounts.v2_path, "");
        return view;
    }
    std::map<std::string, std::pair<std::string, std::string>> by_mountpoint;  // mountpoint -> options, a key
    for (const auto& [controller, mountpoint] : mounts.v1_controllers) {
        auto& [opts, key] = by_mountpoint[mountpoint];
        if (!opts.empty()) opts += ',';
        opts += controller;
        if (key.empty()) key = controller;
    }
    for (const auto& [mountpoint, entry] : by_mountpoint)
        view.v1.push_back({base(mountpoint), entry.first, source(mountpoint, entry.second)});
    if (!mounts.v2_path.empty()) {
        view.v2_dir = base(mounts.v2_path);
        view.v2_source = source(mounts.v2_path, "");
    }
    return view;
}

Status validate_bundle(const BundleSpec& bundle) {
    if (bundle.rootfs.empty() || bundle.rootfs[0] != '/')
        return Error(ErrorKind::Invalid, "root.path: '" + bundle.rootfs + "' must resolve to an absolute path");
    for (size_t i = 0; i < bundle.mounts.size(); ++i) {
        const auto& m = bundle.mounts[i];
        const std::string field = "mounts[" + std::to_string(i) + "]";
        if (m.destination.empty() || m.destination[0] != '/')
            return Error(ErrorKind::Invalid, field + ".destination: '" + m.destination + "' is not an absolute path");
        if (m.destination.find("/../") != std::string::npos || m.destination.ends_with("/.."))
            return Error(ErrorKind::Invalid, field + ".destination: '" + m.destination + "' contains '..'");
        const MountOptions o = parse_mount_options(m.options);
        if ((o.bind || m.type == "bind") && (m.source.empty() || m.source[0] != '/'))
            return Error(ErrorKind::Invalid, field + ".source: a bind mount needs an absolute source");
        if (!o.bind && m.type != "bind" && m.type.empty())
            return Error(ErrorKind::Invalid, field + ".type: required for a mount that is not a bind");
    }
    if (!bundle.rootfs_propagation.empty() && !propagation_options().count(bundle.rootfs_propagation))
        return Error(ErrorKind::Invalid, "linux.rootfsPropagation: unknown value '" + bundle.rootfs_propagation + "'");
    for (const auto& [key, value] : bundle.sysctl) {
        if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
            return Error(ErrorKind::Invalid, "linux.sysctl: invalid name '" + key + "'");
    }
    for (const auto& p : bundle.masked_paths)
        if (p.empty() || p[0] != '/') return Error(ErrorKind::Invalid, "linux.maskedPaths: '" + p + "' is not absolute");
    for (const auto& p : bundle.readonly_paths)
        if (p.empty() || p[0] != '/') return Error(ErrorKind::Invalid, "linux.readonlyPaths: '" + p + "' is not absolute");
    LXBOX_TRY(plan_namespaces(bundle));
    return {};
}

std::optional<int> rlimit_resource(const std::string& name) {
    static const std::map<std::string, int> table = {
        {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_DATA", RLIMIT_DATA},
        {"RLIMIT_STACK", RLIMIT_STACK},     {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
        {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
        {"RLIMIT_RTTIME", RLIMIT_RTTIME}};
    auto it = table.find(name);
    if (it == table.end()) return std::nullopt;
    return it->second;
}

}  // namespace lxbox::runtime
