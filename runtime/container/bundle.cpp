// Setting up a container from an OCI bundle: the bundle's namespaces, its root bound onto
// itself and pivoted into, then its mounts as planned by runtime/plan/bundle.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/container/child.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/namespaces.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/oci/hooks.hpp"
#include "runtime/plan/bundle.hpp"

namespace lxbox::runtime::detail {

namespace fx = lxbox::linux_fx;

namespace {

Status join_namespaces(const NamespacePlan& ns) {
    for (const auto& [flag, path] : ns.join) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) return Error::last("open namespace " + path);
        if (::setns(fd.get(), flag) != 0) return Error::last("join namespace " + path);
    }
    return {};
}

// The state JSON the bundle's hooks get, with this process's pid as the host sees it: until
// pivot_root, /proc is the host's, whose /proc/self names us by our host pid.
std::string hook_state(const BundleSpec& b) {
    char self[32] = {};
    const ssize_t n = ::readlink("/proc/self", self, sizeof self - 1);
    nlohmann::json j = nlohmann::json::parse(b.hook_state, nullptr, false);
    if (j.is_discarded()) j = nlohmann::json::object();
    j["pid"] = n > 0 ? std::atoi(self) : 0;
    return j.dump();
}

unsigned long propagation_of(const std::string& name) {
    auto o = parse_mount_options({name});
    return o.propagation;
}

}  // namespace

Result<Prepared> setup_bundle(const ContainerSpec& spec, const SecurityPlan& security, int& fifo_dir,
                              std::string& state) {
    const BundleSpec& b = *spec.bundle;
    const NamespacePlan ns = LXBOX_TRY(plan_namespaces(b));
    LXBOX_TRY(join_namespaces(ns));
    // The parent has put us in our cgroup: a cgroup namespace made now has it as its root.
    if ((ns.create & CLONE_NEWCGROUP) && ::unshare(CLONE_NEWCGROUP) != 0)
        return Error::last("unshare the cgroup namespace");
    // The mounts stay slaves of the host's by default, as runc's do: a mount the host makes
    // under a shared directory the bundle binds reaches the container (its "slave" and "shared"
    // binds), unless it asks for "private"; nothing the container mounts reaches the host.
    // rootfsPropagation "shared"/"rshared" is two-way, as runc's: the copies of the host's
    // shared mounts stay the host's peers (a container's mount under a bind of one reaches the
    // host), and only the root's parent is made private, so that the root's own bind does not.
    const unsigned long wanted = propagation_of(b.rootfs_propagation);
    const bool shared_root = (wanted & ~MS_REC) == MS_SHARED;
    const unsigned long isolated = MS_REC | ((wanted & ~MS_REC) == MS_PRIVATE ? MS_PRIVATE : MS_SLAVE);
    const unsigned long kept = shared_root ? wanted : isolated;
    // Without a mount namespace of its own (no "mount" in linux.namespaces) the container is
    // set up in the caller's, as runc does: the caller's own mounts keep their propagation, and
    // only the root's bind below gets it.
    const bool own_mounts = ns.has(CLONE_NEWNS);
    if (own_mounts) LXBOX_TRY(fx::set_propagation("/", kept).context("set the propagation of /"));
    if (own_mounts && shared_root) LXBOX_TRY(fx::make_mount_of_private(b.rootfs));
    // pivot_root (or, in the caller's namespace, the chroot) needs the new root to be a mount point.
    LXBOX_TRY(fx::mount_fs(b.rootfs, b.rootfs, "", MS_BIND | MS_REC, "").context("bind the root " + b.rootfs));
    if (!own_mounts) LXBOX_TRY(fx::set_propagation(b.rootfs, isolated));
    auto mountinfo = LXBOX_TRY(read_file("/proc/self/mountinfo"));
    // In the host's cgroup namespace the container sees only its own cgroup, bound.
    std::optional<cgroups::OwnCgroups> own;
    if (!ns.has(CLONE_NEWCGROUP)) own = cgroups::parse_proc_cgroup(LXBOX_TRY(read_file("/proc/self/cgroup")));
    const CgroupView cgroups = cgroup_view(cgroups::parse_cgroup_mounts(mountinfo), own ? &*own : nullptr);
    // A joined user namespace's maps are its own: read while /proc is still the host's.
    const bool userns = spec.userns.enabled || !ns.join_user.empty();
    const IdMapsView ids = ns.join_user.empty() ? id_maps_view(spec.userns) : fx::id_maps_in("/proc/self");
    std::vector<MountOp> ops = plan_bundle_mounts(b, cgroups, userns, (ns.create & CLONE_NEWNET) != 0);
    // runc makes a missing process.cwd, after the mounts and before the root turns read-only.
    std::optional<MountOp> readonly_root;
    if (!ops.empty() && ops.back().kind == MountOpKind::ReadOnly && ops.back().target == "/") {
        readonly_root = std::move(ops.back());
        ops.pop_back();
    }
    auto early = LXBOX_TRY(prepare_early_mounts(ops));
    if (!b.exec_fifo.empty()) {
        const std::string dir = b.exec_fifo.substr(0, b.exec_fifo.rfind('/'));
        fifo_dir = ::open(dir.empty() ? "/" : dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fifo_dir < 0) return Error::last("open " + dir);
    }
    // createContainer: in the container's namespaces, before pivot_root, resolved on the host.
    if (!b.create_container_hooks.empty() || !b.start_container_hooks.empty()) state = hook_state(b);
    LXBOX_TRY(oci::run_hooks(b.create_container_hooks, "createContainer", state));
    // pivot_root in the caller's namespace would move the root of every process in it: the
    // container is chrooted there instead (runc's way; the root's bind is what `delete` removes).
    LXBOX_TRY(own_mounts ? fx::pivot_into(b.rootfs, shared_root) : fx::chroot_into(b.rootfs));
    LXBOX_TRY(apply_mount_ops(ops, early));
    if (!spec.process.cwd.empty() && spec.process.cwd != "/")
        LXBOX_TRY(fx::make_dirs(spec.process.cwd, 0755).context("create process.cwd " + spec.process.cwd));
    if (readonly_root) LXBOX_TRY(fx::apply(*readonly_root));
    if (wanted && (wanted & ~MS_REC) != MS_SLAVE && (wanted & ~MS_REC) != MS_PRIVATE)
        LXBOX_TRY(fx::set_propagation("/", wanted));
    if (ns.has(CLONE_NEWUTS) && !spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
        return Error::last("set hostname " + spec.hostname);
    if (ns.create & CLONE_NEWNET) LXBOX_TRY(fx::bring_up_loopback());
    return prepare_process(spec.process, spec.hostname, security, ids);
}

}  // namespace lxbox::runtime::detail
