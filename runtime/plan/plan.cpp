#include "runtime/plan/plan.hpp"

#include <signal.h>
#include <sys/mount.h>

#include <cctype>
#include <charconv>
#include <sstream>

#include "runtime/cgroups/cgroup.hpp"
#include "runtime/plan/systemd.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/idmap.hpp"
#include "runtime/plan/security.hpp"

namespace lxbox::runtime {

namespace {

bool absolute(const std::string& p) { return !p.empty() && p[0] == '/'; }

}  // namespace

Status validate_spec(const ContainerSpec& spec) {
    if (spec.bundle) {
        if (spec.hold_command)
            return Error(ErrorKind::Invalid, "a bundle's command is held by its exec fifo, not by hold_command");
        LXBOX_TRY(validate_bundle(*spec.bundle));
        LXBOX_TRY(validate_security(spec.process.security));
        if (spec.userns.enabled && (spec.userns.uids.empty() || spec.userns.gids.empty()))
            return Error(ErrorKind::Invalid, "linux.uidMappings/gidMappings: a user namespace needs both");
        if (!absolute(spec.process.cwd))
            return Error(ErrorKind::Invalid, "process.cwd: '" + spec.process.cwd + "' must be an absolute path");
        if (spec.hostname.size() > 64)
            return Error(ErrorKind::Invalid, "hostname: '" + spec.hostname + "' is longer than 64 characters");
        return {};
    }
    if (!absolute(spec.image_rootfs))
        return Error(ErrorKind::Invalid, "image rootfs '" + spec.image_rootfs + "' must be an absolute path");
    if (!absolute(spec.container_dir))
        return Error(ErrorKind::Invalid, "container dir '" + spec.container_dir + "' must be an absolute path");
    if (spec.network != "host" && spec.network != "none")
        return Error(ErrorKind::Invalid, "network '" + spec.network + "' is not one of host, none");
    LXBOX_TRY(validate_security(spec.process.security));
    if (spec.userns.enabled && (!id_mapped(spec.userns.uids, 0) || !id_mapped(spec.userns.gids, 0)))
        return Error(ErrorKind::Invalid, "the user namespace maps no root user or group");
    for (const auto& b : spec.binds) {
        if (!absolute(b.source) || !absolute(b.target))
            return Error(ErrorKind::Invalid, "bind mount " + b.source + ":" + b.target + " needs absolute paths");
    }
    if (!spec.process.cwd.empty() && !absolute(spec.process.cwd))
        return Error(ErrorKind::Invalid, "working directory '" + spec.process.cwd + "' must be an absolute path");
    if (effective_hostname(spec).size() > 64)
        return Error(ErrorKind::Invalid, "hostname '" + effective_hostname(spec) + "' is longer than 64 characters");
    return {};
}

std::string overlay_escape(const std::string& path) {
    std::string out;
    for (char c : path) {
        if (c == ',' || c == ':' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

OverlayPlan plan_overlay(const ContainerSpec& spec) {
    OverlayPlan p;
    // A throwaway container has nothing on disk but its (empty) dir: the tmpfs goes right on it.
    p.merged = spec.ephemeral ? spec.container_dir : spec.container_dir + "/rootfs";
    // The scratch tmpfs sits on the mount point itself, under the overlay: it needs no
    // directory of its own on disk and vanishes with the container's mount namespace.
    p.scratch = p.merged;
    p.lower = spec.image_layers.empty() ? spec.image_rootfs : spec.image_layers.front();
    const std::string layers = spec.ephemeral ? p.scratch : spec.container_dir;
    p.upper = layers + "/upper";
    p.work = layers + "/work";
    const std::string upper_work = ",upperdir=" + overlay_escape(p.upper) + ",workdir=" + overlay_escape(p.work);
    if (spec.image_layers.size() <= 1) {  // one layer: the options as they always were
        p.lowers = {p.lower};
        p.options = "lowerdir=" + overlay_escape(p.lower) + upper_work;
        return p;
    }
    p.lowers = spec.image_layers;
    // Rootless layers mark opaque directories with user.overlay.opaque (trusted.* needs
    // CAP_SYS_ADMIN in the host's namespace), which overlayfs reads in userxattr mode.
    if (spec.userns.enabled) p.extra_options = "userxattr";
    const std::string extra = p.extra_options.empty() ? "" : "," + p.extra_options;
    std::string full, short_names;
    p.lower_base = spec.layers_dir;
    const std::string prefix = spec.layers_dir + "/sha256/";
    for (const auto& l : p.lowers) {
        full += (full.empty() ? "" : ":") + overlay_escape(l);
        const bool linked = !spec.layers_dir.empty() && l.starts_with(prefix) && l.size() >= prefix.size() + 16;
        short_names += (short_names.empty() ? "" : ":") +
                       (linked ? "l/" + l.substr(prefix.size(), 16) : overlay_escape(l));
    }
    p.options = "lowerdir=" + full + upper_work + extra;
    p.short_options = "lowerdir=" + short_names + upper_work + extra;
    return p;
}

OverlayPlan fuse_overlay_plan(const OverlayPlan& plan) {
    OverlayPlan p = plan;
    const std::string under = p.merged + "/";
    if (p.upper.starts_with(under) || p.work.starts_with(under)) p.merged += "/root";
    return p;
}

std::vector<MountOp> plan_system_mounts(const ContainerSpec& spec) {
    constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    // In a user namespace of its own (rootless) the container may mount proc, tmpfs, devpts
    // and mqueue, but not sysfs of the host's network namespace, and may not mknod.
    const bool userns = spec.userns.enabled;
    std::vector<MountOp> ops;
    auto dir = [&](std::string t, unsigned mode) { ops.push_back({MountOpKind::MakeDir, std::move(t), "", 0, "", mode}); };
    auto mnt = [&](std::string t, std::string fs, unsigned long flags, std::string data) {
        ops.push_back({MountOpKind::Mount, std::move(t), std::move(fs), flags, std::move(data)});
    };
    auto host_bind = [&](std::string t, unsigned long flags) {
        MountOp op{MountOpKind::HostBind, t, "", flags};
        op.source = std::move(t);
        ops.push_back(std::move(op));
    };
    auto dev = [&](std::string t, unsigned major, unsigned minor) {
        if (userns) return host_bind(std::move(t), 0);
        ops.push_back({MountOpKind::MakeDevice, std::move(t), "", 0, "", 0666, major, minor});
    };
    auto link = [&](std::string t, std::string to) {
        MountOp op{MountOpKind::Symlink, std::move(t)};
        op.link = std::move(to);
        ops.push_back(std::move(op));
    };
    auto early = [&](std::string t, std::string fs, unsigned long flags) {
        ops.push_back({MountOpKind::EarlyMount, std::move(t), std::move(fs), flags, ""});
    };
    for (const char* d : {"/proc", "/sys", "/dev"}) dir(d, 0755);
    if (!userns) {
        mnt("/proc", "proc", kSafe, "");
        mnt("/sys", "sysfs", kSafe | MS_RDONLY, "");
    } else {
        early("/proc", "proc", kSafe);
        // sysfs shows the network namespace it is mounted from: only a new one is ours.
        if (spec.network == "none") {
            early("/sys", "sysfs", kSafe | MS_RDONLY);
        } else {
            host_bind("/sys", MS_RDONLY);
        }
    }
    mnt("/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    dev("/dev/null", 1, 3);
    dev("/dev/zero", 1, 5);
    dev("/dev/full", 1, 7);
    dev("/dev/random", 1, 8);
    dev("/dev/urandom", 1, 9);
    dev("/dev/tty", 5, 0);
    dir("/dev/pts", 0755);
    dir("/dev/shm", 01777);
    dir("/dev/mqueue", 0755);
    // newinstance: the container's ptys are its own, invisible to the host's devpts. Group tty
    // (5) owns them where the user namespace maps it.
    std::string pts = "newinstance,ptmxmode=0666,mode=0620";
    if (!userns || id_mapped(spec.userns.gids, 5)) pts += ",gid=5";
    mnt("/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts);
    mnt("/dev/shm", "tmpfs", kSafe, "mode=1777,size=65536k");
    mnt("/dev/mqueue", "mqueue", kSafe, "");
    link("/dev/ptmx", "pts/ptmx");
    link("/dev/fd", "/proc/self/fd");
    link("/dev/stdin", "/proc/self/fd/0");
    link("/dev/stdout", "/proc/self/fd/1");
    link("/dev/stderr", "/proc/self/fd/2");
    if (spec.systemd)
        for (auto& op : plan_systemd_mounts()) ops.push_back(std::move(op));
    // docker's masked and read-only paths, after /dev so /dev/null exists to mask with.
    if (!spec.process.security.privileged) {
        for (const auto& p : masked_paths()) ops.push_back({MountOpKind::Mask, p});
        for (const auto& p : readonly_paths()) ops.push_back({MountOpKind::ReadOnly, p});
    }
    return ops;
}

std::string oom_notice(int exit_code, bool oom_killed) {
    if (!oom_killed) return "";
    if (exit_code == 128 + SIGKILL)
        return "out of memory: the kernel killed a process of the container at its memory limit (raise --memory)";
    return "warning: the kernel killed a process of the container at its memory limit (out of memory); the command "
           "itself went on and exited " + std::to_string(exit_code);
}

std::string effective_hostname(const ContainerSpec& spec) {
    return spec.hostname.empty() ? spec.name : spec.hostname;
}

std::vector<InjectedFile> plan_injected_files(const ContainerSpec& spec) {
    const std::string host = effective_hostname(spec);
    std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    if (!host.empty()) hosts += "127.0.1.1\t" + host + "\n";
    // An integrated container's: the host's own, and its hostname if the host's lacks it.
    if (!spec.hosts.empty())
        hosts = spec.hosts + (spec.hosts.back() == '\n' ? "" : "\n") +
                (host.empty() || spec.hosts.find(host) != std::string::npos ? "" : "127.0.1.1\t" + host + "\n");
    return {
        {"hostname", "/etc/hostname", host + "\n"},
        {"hosts", "/etc/hosts", hosts},
        {"resolv.conf", "/etc/resolv.conf", spec.resolv_conf},
    };
}

std::vector<std::string> plan_env(const ProcessSpec& process, const ResolvedUser& user, const std::string& hostname) {
    std::vector<std::string> env = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=" + user.home,
        "USER=" + (user.name.empty() ? std::to_string(user.uid) : user.name),
        "TERM=" + (process.term.empty() ? std::string("xterm") : process.term),
        "HOSTNAME=" + hostname,
    };
    for (const auto& kv : process.env) {
        const std::string key = kv.substr(0, kv.find('='));
        bool replaced = false;
        for (auto& e : env) {
            if (e.compare(0, key.size() + 1, key + "=") == 0) {
                e = kv;
                replaced = true;
            }
        }
        if (!replaced) env.push_back(kv);
    }
    return env;
}

ExecPlan plan_exec(const ProcessSpec& process, const ResolvedUser& user) {
    ExecPlan p;
    if (process.args.empty()) {
        p.file = user.shell.empty() ? "/bin/sh" : user.shell;
        const auto slash = p.file.rfind('/');
        p.argv = {"-" + (slash == std::string::npos ? p.file : p.file.substr(slash + 1))};
    } else {
        p.file = process.args[0];
        p.argv = process.args;
    }
    p.cwd_required = !process.cwd.empty() && !process.cwd_or_home;
    p.cwd = process.cwd.empty() ? user.home : process.cwd;
    if (process.cwd_or_home) {
        // $HOME as the command will have it (an integrated launch's is the host user's, where
        // the distro's passwd may say /root), as distrobox falls back to it.
        std::string home = user.home;
        for (const auto& kv : process.env)
            if (kv.rfind("HOME=", 0) == 0) home = kv.substr(5);
        if (process.cwd != home) p.fallback = home;
    }
    return p;
}

int exec_failure_exit_code(int err) { return err == ENOENT || err == ENOTDIR ? 127 : 126; }

int exit_code_from_siginfo(int code, int status) {
    if (code == CLD_EXITED) return status;
    return 128 + status;  // CLD_KILLED, CLD_DUMPED
}

Result<BindMount> parse_bind(const std::string& text) {
    BindMount b;
    std::string rest = text;
    if (rest.size() > 3 && (rest.ends_with(":ro") || rest.ends_with(":rw"))) {
        b.readonly = rest.ends_with(":ro");
        rest.resize(rest.size() - 3);
    }
    const auto colon = rest.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size())
        return Error(ErrorKind::Invalid, "bind mount '" + text + "' is not HOST:GUEST[:ro]");
    b.source = rest.substr(0, colon);
    b.target = rest.substr(colon + 1);
    if (b.source[0] != '/' || b.target[0] != '/')
        return Error(ErrorKind::Invalid, "bind mount '" + text + "' needs absolute paths");
    return b;
}

Result<std::optional<std::string>> parse_env_var(const std::string& text, const EnvLookup& lookup) {
    const auto eq = text.find('=');
    if (eq == 0 || text.empty()) return Error(ErrorKind::Invalid, "no variable name");
    if (eq != std::string::npos) return std::optional<std::string>{text};
    const char* value = lookup(text);
    if (!value) return std::optional<std::string>{};
    return std::optional<std::string>{text + "=" + value};
}

Result<std::vector<std::string>> parse_env_file(const std::string& text, const EnvLookup& lookup) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        line = line.substr(first);
        auto var = LXBOX_TRY_CTX(parse_env_var(line, lookup), "line " + std::to_string(n) + ": '" + line + "'");
        if (var) out.push_back(std::move(*var));
    }
    return out;
}

// --memory and the VM's sizes: the cgroup code's parser (docker's rules: "1.5g", "512MiB"),
// so that one size means the same everywhere. Its own was a second one, which refused "1.5g".
Result<uint64_t> parse_memory(const std::string& text) { return cgroups::parse_memory_size(text); }

Result<std::vector<std::string>> resolve_env_args(const std::vector<std::string>& args, const EnvLookup& lookup) {
    std::vector<std::string> out;
    for (const auto& a : args) {
        auto var = LXBOX_TRY_CTX(parse_env_var(a, lookup), "-e '" + a + "'");
        if (var) out.push_back(std::move(*var));
    }
    return out;
}

}  // namespace lxbox::runtime
