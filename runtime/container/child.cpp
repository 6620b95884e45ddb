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

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/process.hpp"

namespace lxbox::runtime::detail {

namespace fx = lxbox::linux_fx;

void fail(const ChildChannel& ch, const Error& error, int code) {
    try {
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

// The system mounts made before pivot_root (HostBind, EarlyMount), index-aligned with ops.
Result<std::vector<UniqueFd>> prepare_early_mounts(const std::vector<MountOp>& ops) {
    std::vector<UniqueFd> out(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].kind == MountOpKind::HostBind)
            out[i] = LXBOX_TRY(fx::clone_tree(ops[i].source, (ops[i].flags & MS_RDONLY) != 0));
        if (ops[i].kind == MountOpKind::EarlyMount)
            out[i] = LXBOX_TRY(fx::new_detached_mount(ops[i].fstype, ops[i].flags, ops[i].data)
                                   .context("mount " + ops[i].target));
    }
    return out;
}

struct Pending {
    std::vector<Attachment> injected, binds;
    std::vector<UniqueFd> early;  // by index of the system mount steps
};

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
    LXBOX_TRY(fx::mount_fs("overlay", ov.merged, "overlay", 0, ov.options)
                  .context("mount the root of container " + spec.name));
    return fx::pivot_into(ov.merged);
}

Result<Prepared> setup_container(const ContainerSpec& spec, const SecurityPlan& security) {
    const std::vector<MountOp> system = plan_system_mounts(spec);
    Pending pending;
    LXBOX_TRY(mount_root(spec, system, pending));
    // Mode bits of the device nodes and /dev/shm must not be trimmed by the caller's umask.
    ::umask(0);
    for (size_t i = 0; i < system.size(); ++i) {
        if (made_before_pivot(system[i])) {
            LXBOX_TRY(fx::attach_tree(pending.early[i].get(), system[i].target));
        } else {
            LXBOX_TRY(fx::apply(system[i]));
        }
    }
    ::umask(022);
    for (auto& a : pending.injected) LXBOX_TRY(fx::attach_tree(a.tree.get(), a.target));
    for (auto& a : pending.binds) LXBOX_TRY(fx::attach_tree(a.tree.get(), a.target));
    const std::string host = effective_hostname(spec);
    if (::sethostname(host.data(), host.size()) != 0) return Error::last("set hostname " + host);
    if (spec.network == "none") LXBOX_TRY(fx::bring_up_loopback());
    return prepare_process(spec.process, host, security, id_maps_view(spec.userns));
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

Result<Prepared> prepare_process(const ProcessSpec& process, const std::string& hostname,
                                 const SecurityPlan& security, const IdMapsView& ids) {
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

void container_child_main(const ContainerSpec& spec, const ChildChannel& ch, const SecurityPlan& security) {
    // The container must not outlive lxbox's hold on it unnoticed (no one could reap or stop it).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // In a user namespace of its own, nothing may be created before its id maps are written:
    // every file would belong to the overflow id.
    if (spec.userns.enabled) {
        if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    }
    auto prepared = setup_container(spec, security);
    if (!prepared) fail(ch, prepared.error(), 125);
    if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    // A cgroup namespace made now has the container's own cgroup as its root.
    if (!spec.cgroup.empty() && ::unshare(CLONE_NEWCGROUP) != 0)
        fail(ch, Error::last("unshare the cgroup namespace"), 125);
    run_process(*prepared, spec.process, ch, spec.init, false);
}

void join_child_main(const JoinSpec& join, int target_pidfd, int namespaces, const IdMapsView& ids,
                     const ChildChannel& ch, const SecurityPlan& security) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (auto st = wait_for_parent(ch); !st) fail(ch, st.error(), 125);
    if (namespaces != 0 && ::setns(target_pidfd, namespaces) != 0)
        fail(ch, Error::last("join the container's namespaces"), 125);
    ::close(target_pidfd);
    if (::chdir("/") != 0) fail(ch, Error::last("enter /"), 125);
    char host[65] = {};
    ::gethostname(host, sizeof host - 1);
    auto prepared = prepare_process(join.process, host, security, ids);
    if (!prepared) fail(ch, prepared.error(), 125);
    // The forwarder stays outside the pid namespace; the command, forked, lands inside it.
    run_process(*prepared, join.process, ch, true, true);
}

}  // namespace lxbox::runtime::detail
