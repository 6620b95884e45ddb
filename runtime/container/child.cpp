// Between clone3 and the command: the container's root (overlay + pivot_root), its /proc, /sys
// and /dev, the injected /etc files, bind mounts, hostname, loopback — or, for exec, setns.
#include "runtime/container/child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/base/log.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/oci/hooks.hpp"
#include "runtime/plan/accounts.hpp"
#include "runtime/plan/bundle.hpp"
#include "runtime/plan/oci_process.hpp"
#include "runtime/plan/systemd.hpp"
#include "runtime/cgroups/cgroup.hpp"

namespace lxbox::runtime::detail {

namespace fx = lxbox::linux_fx;

void fail(const ChildChannel& ch, const Error& error, int code) {
    try {
        if (ch.error_fd < 0) {
            // A created container whose creator is gone: its stderr is the only one to tell.
            (void)write_all(2, "lxbox: " + error.message + "\n");
            ::_exit(code);
        }
        const std::string msg = nlohmann::json{{"exit_code", code}, {"error", error}}.dump();
        (void)write_all(ch.error_fd, msg);
    } catch (const std::exception&) {
        // Nothing better to do in a child about to exit: the parent sees the exit code.
    }
    ::_exit(code);
}

namespace {

struct Attachment {
    UniqueFd tree;
    std::string target;
};

// Writes the generated /etc files into the scratch tmpfs and takes a detached bind of each.
Result<std::vector<Attachment>> prepare_injected(const ContainerSpec& spec, const std::string& scratch) {
    std::vector<Attachment> out;
    for (const auto& f : plan_injected_files(spec)) {
        const std::string path = scratch + "/" + f.name;
        auto fd = LXBOX_TRY(open_fd(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
        LXBOX_TRY(write_all(fd.get(), f.content));
        out.push_back({LXBOX_TRY(fx::clone_tree(path, false)), f.target});
    }
    return out;
}

Result<std::vector<Attachment>> prepare_binds(const ContainerSpec& spec) {
    std::vector<Attachment> out;
    for (const auto& b : spec.binds) out.push_back({LXBOX_TRY(fx::clone_tree(b.source, b.readonly)), b.target});
    return out;
}

bool made_before_pivot(const MountOp& op) {
    return op.kind == MountOpKind::HostBind || op.kind == MountOpKind::EarlyMount;
}

struct Pending {
    std::vector<Attachment> injected, binds;
    std::vector<UniqueFd> early;  // by index of the system mount steps
};

// fuse-overlayfs's mount of the root; where it is.
Result<std::string> mount_fuse(const std::string& program, const OverlayPlan& ov) {
    const OverlayPlan fuse = fuse_overlay_plan(ov);
    if (fuse.merged != ov.merged && ::mkdir(fuse.merged.c_str(), 0755) != 0)
        return Error::last("create " + fuse.merged);
    LXBOX_TRY(fx::mount_fuse_overlay(program, fuse));
    return fuse.merged;
}

// The kernel's overlayfs; in a user namespace where it is refused (before Linux 5.11: EPERM),
// fuse-overlayfs when the host has it; or fuse-overlayfs alone when asked. Where the root is.
Result<std::string> mount_overlay(const ContainerSpec& spec, const OverlayPlan& ov) {
    if (spec.fuse_overlay_only) return mount_fuse(spec.fuse_overlay, ov);
    // Many layers whose options outgrow the mount(2) page take the new mount API's way.
    auto kernel = ov.options.size() > kOverlayOptionsMax ? fx::mount_overlay_layers(ov)
                                                         : fx::mount_fs("overlay", ov.merged, "overlay", 0, ov.options);
    if (kernel) return ov.merged;
    if (!spec.userns.enabled || (kernel.error().errno_value != EPERM && kernel.error().errno_value != EINVAL))
        return std::move(kernel).error();
    if (!spec.fuse_overlay.empty()) {
        spdlog::debug("{}: fuse-overlayfs instead", kernel.error().message);
        return mount_fuse(spec.fuse_overlay, ov);
    }
    Error e = std::move(kernel).error();
    e.message += " (overlayfs in a user namespace needs Linux 5.11 or later; install fuse-overlayfs and lxbox uses it)";
    return e;
}

Status mount_root(const ContainerSpec& spec, const std::vector<MountOp>& system, Pending& pending) {
    LXBOX_TRY(fx::make_root_private());
    const OverlayPlan ov = plan_overlay(spec);
    LXBOX_TRY(fx::mount_fs("lxbox", ov.scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"));
    pending.injected = LXBOX_TRY(prepare_injected(spec, ov.scratch));
    pending.binds = LXBOX_TRY(prepare_binds(spec));
    pending.early = LXBOX_TRY(prepare_early_mounts(system));
    if (spec.ephemeral) {
        for (const auto& d : {ov.upper, ov.work})
            if (::mkdir(d.c_str(), 0755) != 0) return Error::last("create " + d);
    }
    const std::string root = LXBOX_TRY(mount_overlay(spec, ov).context("mount the root of container " + spec.name));
    return fx::pivot_into(root);
}

// A file's text, "" when it cannot be read (absent: an image without /etc/group).
std::string text_or_empty(const std::string& path) {
    auto text = read_file(path);
    return text ? std::move(*text) : std::string();
}

// Replaces a file of the container's /etc by temp + rename (a reader never sees half of it),
// keeping the mode and owner of the file it replaces (shadow stays 0640 root:shadow).
Status replace_etc_file(const std::string& path, const std::string& content, mode_t mode) {
    struct stat st;
    const bool existed = ::stat(path.c_str(), &st) == 0;
    const std::string tmp = path + ".lxbox-new";
    {
        auto fd = LXBOX_TRY(open_fd(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, existed ? st.st_mode & 07777 : mode));
        LXBOX_TRY(write_all(fd.get(), content));
        if (existed && ::fchown(fd.get(), st.st_uid, st.st_gid) != 0) return Error::last("chown " + tmp);
        if (::fchmod(fd.get(), existed ? st.st_mode & 07777 : mode) != 0) return Error::last("chmod " + tmp);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::last("replace " + path);
    return {};
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// WSL's first-run step: the host user's account in the container's /etc (after pivot_root, so
// the writes land in the container's upper layer, never in the image). A no-op once done.
Status ensure_account(const AccountSpec& account) {
    AccountFiles files;
    files.passwd = text_or_empty("/etc/passwd");
    files.group = text_or_empty("/etc/group");
    auto shadow = read_file("/etc/shadow");
    files.has_shadow = shadow.ok();
    files.shadow = shadow ? *shadow : "";
    files.has_sudo = exists("/usr/bin/sudo") && exists("/etc/sudoers.d");
    const std::string sudoers = "/etc/sudoers.d/lxbox-" + account.name;
    files.has_sudoers_entry = exists(sudoers);
    files.shell_exists = exists(account.shell);
    const AccountChanges c = plan_account(files, account);
    if (!c.any()) return {};
    ::umask(022);
    if (c.passwd) LXBOX_TRY(replace_etc_file("/etc/passwd", *c.passwd, 0644));
    if (c.group) LXBOX_TRY(replace_etc_file("/etc/group", *c.group, 0644));
    if (c.shadow) LXBOX_TRY(replace_etc_file("/etc/shadow", *c.shadow, 0640));
    if (c.sudoers) LXBOX_TRY(replace_etc_file(sudoers, *c.sudoers, 0440));
    return {};
}

Result<Prepared> setup_container(const ContainerSpec& spec, const SecurityPlan& security) {
    const std::vector<MountOp> system = plan_system_mounts(spec);
    Pending pending;
    LXBOX_TRY(mount_root(spec, system, pending));
    LXBOX_TRY(apply_mount_ops(system, pending.early));
    // /etc/resolv.conf and the -v targets follow the image's symlinks (inside its root), as
    // docker's do: systemd images link resolv.conf into /run.
    for (auto& a : pending.injected) LXBOX_TRY(fx::attach_tree(a.tree.get(), a.target, true));
    for (auto& a : pending.binds) LXBOX_TRY(fx::attach_tree(a.tree.get(), a.target, true));
    const std::string host = effective_hostname(spec);
    if (::sethostname(host.data(), host.size()) != 0) return Error::last("set hostname " + host);
    if (spec.network == "none") LXBOX_TRY(fx::bring_up_loopback());
    if (spec.account) LXBOX_TRY_CTX(ensure_account(*spec.account), "add user " + spec.account->name + " to the container");
    return prepare_process(spec.process, host, security, id_maps_view(spec.userns));
}

// systemd needs a cgroup2 tree of the container's own: the container's cgroup in the v2
// hierarchy (pure v2, or the hybrid's unified tree, where lxbox keeps every container). A
// host with cgroup v1 only leaves it in v2's root, which would be the host's whole tree.
Status check_own_v2_cgroup() {
    const std::string text = text_or_empty("/proc/self/cgroup");
    const auto own = cgroups::parse_proc_cgroup(text);
    const auto v2 = own.find("");
    if (v2 == own.end() || v2->second == "/" || v2->second.empty())
        return Error(ErrorKind::Unsupported, "systemd as the container's init needs cgroup v2 (a host with only "
                                             "cgroup v1 has no cgroup2 tree to give the container)");
    return {};
}

// After the cgroup namespace is made (its root is the container's cgroup): that cgroup2 tree
// at /sys/fs/cgroup, writable, for systemd to make its groups in; and the file that tells
// systemd (and systemd-detect-virt) which container manager runs it.
Status prepare_systemd() {
    LXBOX_TRY(fx::mount_fs("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""));
    LXBOX_TRY(fx::make_dirs("/run/systemd", 0755));
    auto fd = LXBOX_TRY(open_fd("/run/systemd/container", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0444));
    return write_all(fd.get(), std::string(kContainerManager) + "\n");
}

Status wait_for_parent(const ChildChannel& ch) {
    char byte = 0;
    ssize_t n;
    while ((n = ::read(ch.sync_fd, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) return Error(ErrorKind::Internal, "lxbox went away before the container started");
    return {};
}

}  // namespace

// The system mounts made before pivot_root (HostBind, EarlyMount), index-aligned with ops.
Result<std::vector<UniqueFd>> prepare_early_mounts(const std::vector<MountOp>& ops) {
    std::vector<UniqueFd> out(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].kind == MountOpKind::HostBind)
            out[i] = LXBOX_TRY(fx::clone_tree_with(ops[i].source, ops[i].recursive, ops[i].flags)
                                   .context("mount " + ops[i].target));
        if (ops[i].kind == MountOpKind::EarlyMount)
            out[i] = LXBOX_TRY(fx::new_detached_mount(ops[i].fstype, ops[i].flags, ops[i].data,
                                                      ops[i].source.empty() ? ops[i].fstype : ops[i].source)
                                   .context("mount " + ops[i].target));
    }
    return out;
}

Status apply_mount_ops(const std::vector<MountOp>& ops, std::vector<UniqueFd>& early) {
    // Mode bits of the device nodes and /dev/shm must not be trimmed by the caller's umask.
    ::umask(0);
    for (size_t i = 0; i < ops.size(); ++i) {
        Status st;
        if (made_before_pivot(ops[i])) {
            st = fx::attach_tree(early[i].get(), ops[i].target, ops[i].follow_symlinks);
            if (st && ops[i].propagation) st = fx::set_propagation(ops[i].target, ops[i].propagation);
        } else {
            st = fx::apply(ops[i]);
        }
        if (!st) {
            ::umask(022);
            return st;
        }
    }
    ::umask(022);
    return {};
}

Result<Prepared> prepare_process(const ProcessSpec& process, const std::string& hostname,
                                 const SecurityPlan& security, const IdMapsView& ids) {
    if (process.explicit_user) {
        // An OCI process: everything as given.
        const auto& u = *process.explicit_user;
        Prepared p;
        p.user.uid = u.uid;
        p.user.gid = u.gid;
        p.user.groups.assign(u.additional_gids.begin(), u.additional_gids.end());
        p.user.exact_groups = !ids.in_userns || ids.setgroups_allowed;
        // runc's HOME: the user's entry in the container's passwd, when the spec sets none.
        auto passwd = read_file("/etc/passwd");
        p.env = env_with_home(process.env, parse_passwd(passwd ? *passwd : ""), u.uid);
        if (process.args.empty()) return Error(ErrorKind::Invalid, "process.args: no command");
        p.exec.file = process.args[0];
        p.exec.argv = process.args;
        p.exec.cwd = process.cwd.empty() ? "/" : process.cwd;
        p.exec.cwd_required = true;
        p.security = security;
        for (const auto& r : process.rlimits) {
            auto res = rlimit_resource(r.type);
            if (!res) return Error(ErrorKind::Invalid, "process.rlimits: unknown type '" + r.type + "'");
            p.rlimits.push_back({*res, {r.soft, r.hard}});
        }
        if (process.oom_score_adj) p.oom_score_adj = std::to_string(*process.oom_score_adj);
        p.umask = u.umask;
        return p;
    }
    auto passwd = read_file("/etc/passwd");
    auto group = read_file("/etc/group");
    auto user = LXBOX_TRY(resolve_user(process.user, parse_passwd(passwd ? *passwd : ""),
                                       parse_group(group ? *group : "")));
    user = LXBOX_TRY(fit_user(std::move(user), ids));
    Prepared p;
    p.env = plan_env(process, user, hostname);
    p.exec = plan_exec(process, user);
    p.user = std::move(user);
    p.security = security;
    return p;
}

namespace {

// What runc checks before `create` returns, so that it fails there and not after `start`: the
// command is found (in the spec's own PATH), and its rlimits and oom_score_adj are set now.
Status ready_to_start(Prepared& p) {
    auto check = [](const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return errno;
        return S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0 ? 0 : EACCES;
    };
    p.exec.file = LXBOX_TRY(look_path(p.exec.file, p.env, check));
    LXBOX_TRY(apply_process_limits(p));
    p.rlimits.clear();
    p.oom_score_adj.clear();
    return {};
}

// A bundle's container: in its cgroup before anything is mounted (so a cgroup namespace and
// the cgroup mounts show the container's own cgroup), then set up, then reported created; the
// command runs once `start` opens the exec fifo.
[[noreturn]] void bundle_child_main(const ContainerSpec& spec, const ChildChannel& ch, const SecurityPlan& security) {
    // Until its exec this process is lxbox, holding host fds: nothing in the container (which
    // may share our pid namespace) may ptrace it or reach /proc/PID/exe (runc's init does the
    // same, CVE-2019-5736). Its id maps are written by now; exec makes it dumpable again.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    int fifo_dir = -1;
    std::string state;
    auto prepared = setup_bundle(spec, security, fifo_dir, state);
    if (!prepared) fail(ch, prepared.error(), 125);
    if (auto st = ready_to_start(*prepared); !st) fail(ch, st.error(), 125);
    const std::string slave = spec.process.tty ? open_tty(ch) : std::string();
    // runc's waiting process holds the pty on 0-2 (the caller's stdio goes: containerd's shim
    // reads `create`'s output to its end), and no fd of the caller or of lxbox's but the fifo's.
    if (!slave.empty())
        if (auto st = fx::become_tty_session(slave); !st) fail(ch, st.error(), 125);
    const char ready = 'R';
    if (auto st = write_all(ch.ready_fd, &ready, 1); !st) fail(ch, st.error(), 125);
    ChildChannel after = ch;
    after.ready_fd = after.sync_fd = after.pty_sock = -1;
    if (spec.detached) after.error_fd = -1;  // `create` returns now: errors go to the container's stderr
    close_all_but({after.error_fd, after.exec_stub, fifo_dir});
    if (fifo_dir >= 0) {
        // Blocks until `start` opens the fifo for reading.
        const std::string& fifo = spec.bundle->exec_fifo;
        const std::string name = fifo.substr(fifo.rfind('/') + 1);
        int fd;
        while ((fd = ::openat(fifo_dir, name.c_str(), O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR) {
        }
        if (fd < 0) fail(after, Error::last("open the exec fifo"), 125);
        if (auto st = write_all(fd, "0", 1); !st) fail(after, st.error(), 125);
        ::close(fd);
        ::close(fifo_dir);
    }
    // startContainer: started, in the container, just before the command.
    if (auto st = oci::run_hooks(spec.bundle->start_container_hooks, "startContainer", state, ch.exec_stub); !st)
        fail(after, st.error(), 125);
    run_process(*prepared, spec.process, after, false, false, &slave);
}

}  // namespace

// Every process that enters a container first leaves lxbox's session, as runc's nsexec does:
// with no controlling terminal, no process of the container can type into the host's terminal
// with TIOCSTI (the kernel wants CAP_SYS_ADMIN for a terminal that is not the caller's
// controlling one), although lxbox hands it its own stdio, which may be that terminal. lxbox
// forwards the terminal's signals instead (Container::wait, init_loop).
static void leave_the_callers_session(const ChildChannel& ch) {
    if (::setsid() < 0) fail(ch, Error::last("start a session of the container's own"), 125);
}

void container_child_main(const ContainerSpec& spec, const ChildChannel& ch, const SecurityPlan& security) {
    if (ch.sync_write >= 0) ::close(ch.sync_write);
    // PID 1 of the container: its /proc/1/cmdline would show lxbox's own command line.
    fx::set_neutral_command_line("lxbox-init");
    leave_the_callers_session(ch);
    // The container must not outlive lxbox's hold on it unnoticed (no one could reap or stop
    // it), unless it is made to (`oci create`: the caller is its reaper).
    if (!spec.detached) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // In a user namespace of its own, nothing may be created before its id maps are written:
    // every file would belong to the overflow id.
    if (spec.userns.enabled) {
        if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
        // Become the namespace's root: a process cloned by host root keeps host uid 0, which a
        // map like "0 200000 65536" leaves unmapped (files it made would fail, EOVERFLOW). For
        // a rootless container (the caller mapped to 0) this changes nothing.
        if (id_mapped(spec.userns.gids, 0) && ::setresgid(0, 0, 0) != 0)
            fail(ch, Error::last("become gid 0 of the user namespace"), 125);
        if (id_mapped(spec.userns.uids, 0) && ::setresuid(0, 0, 0) != 0)
            fail(ch, Error::last("become uid 0 of the user namespace"), 125);
    }
    if (spec.bundle) bundle_child_main(spec, ch, security);
    auto prepared = setup_container(spec, security);
    if (!prepared) fail(ch, prepared.error(), 125);
    if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    if (spec.systemd) {
        if (auto st = check_own_v2_cgroup(); !st) fail(ch, st.error(), 125);
    }
    // A cgroup namespace made now has the container's own cgroup as its root.
    if (!spec.cgroup.empty() && ::unshare(CLONE_NEWCGROUP) != 0)
        fail(ch, Error::last("unshare the cgroup namespace"), 125);
    if (spec.systemd) {
        if (auto st = prepare_systemd(); !st) fail(ch, st.error().context("prepare the container for systemd"), 125);
    }
    if (spec.hold_command) {
        const char ready = 'R';
        if (auto st = write_all(ch.ready_fd, &ready, 1); !st) fail(ch, st.error(), 125);
        if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    }
    run_process(*prepared, spec.process, ch, spec.init, false);
}

void join_child_main(const JoinSpec& join, int target_pidfd, int namespaces, const IdMapsView& ids,
                     const ChildChannel& ch, const SecurityPlan& security) {
    if (ch.sync_write >= 0) ::close(ch.sync_write);
    leave_the_callers_session(ch);
    if (!join.detached) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    if (namespaces != 0 && ::setns(target_pidfd, namespaces) != 0)
        fail(ch, Error::last("join the container's namespaces"), 125);
    ::close(target_pidfd);
    // A container without a mount namespace of its own is chrooted in the caller's: joining
    // its namespaces leaves this process at the host's root, so its root is entered here.
    if (!(namespaces & CLONE_NEWNS)) {
        if (auto st = fx::enter_root_of(join.pid); !st) fail(ch, st.error().context("enter the container's root"), 125);
    }
    if (::chdir("/") != 0) fail(ch, Error::last("enter /"), 125);
    char host[65] = {};
    ::gethostname(host, sizeof host - 1);
    auto prepared = prepare_process(join.process, host, security, ids);
    if (!prepared) fail(ch, prepared.error(), 125);
    if (join.detached) {
        // runc's exec --detach: the command itself, inside the pid namespace, is the caller's
        // child (its reaper once lxbox exits), and its pid is the one lxbox reports: a signal to
        // it reaches the command, and the caller sees its real exit status.
        const pid_t command = sys::clone3_sibling(0);
        if (command < 0) fail(ch, Error::last("fork the command"), 125);
        if (command == 0) run_process(*prepared, join.process, ch, false, false);
        (void)write_all(ch.ready_fd, &command, sizeof command);
        ::_exit(0);
    }
    // The forwarder stays outside the pid namespace; the command, forked, lands inside it.
    run_process(*prepared, join.process, ch, true, true);
}

}  // namespace lxbox::runtime::detail
