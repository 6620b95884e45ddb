// Mount effects, run inside the container's new mount namespace: they carry out the plans of
// runtime/plan and hold no decisions of their own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/plan/plan.hpp"

namespace lxbox::linux_fx {

// mount --make-rprivate /: nothing the container mounts propagates back to the host.
Status make_root_private();
Status mount_fs(const std::string& source, const std::string& target, const std::string& fstype,
                unsigned long flags, const std::string& data);
// The overlay of plan at plan.merged through the FUSE program fuse-overlayfs (where the kernel
// will not mount overlayfs: a user namespace before Linux 5.11). The program mounts and leaves
// its daemon serving the mount, in the caller's namespaces (so it dies with the container's
// pid namespace); it gets none of the caller's fds.
Status mount_fuse_overlay(const std::string& program, const runtime::OverlayPlan& plan);
// The overlay of a plan with many lowers: one fsconfig "lowerdir+" each (Linux 6.8), else the
// short relative names from the plan's lower_base. force_short: the older kernels' way here too.
Status mount_overlay_layers(const runtime::OverlayPlan& plan, bool force_short = false);
// Carries out one step of plan_system_mounts (MakeDir and MakeDevice tolerate an existing node).
// A Mount whose op.follow_symlinks is false is made on its target reached through no symlink.
Status apply(const runtime::MountOp& op);
// A detached copy of the mount tree at path (open_tree OPEN_TREE_CLONE), read-only if asked:
// taken before pivot_root so the host path is resolved in the host's root.
Result<UniqueFd> clone_tree(const std::string& path, bool readonly);
// MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NODIRATIME and the atime mode (MS_NOATIME,
// MS_STRICTATIME, MS_RELATIME) as mount_setattr's MOUNT_ATTR_* to set and to clear (pure).
struct MountAttrChange {
    uint64_t set = 0, clear = 0;
    bool operator==(const MountAttrChange&) const = default;
};
MountAttrChange mount_attrs_of(unsigned long flags);
// The same with MS_RDONLY/MS_NOSUID/MS_NODEV/MS_NOEXEC/MS_NOATIME... of `flags` as mount
// attributes, and the submounts only when recursive (bind vs rbind).
Result<UniqueFd> clone_tree_with(const std::string& path, bool recursive, unsigned long flags);
// mount(NULL, target, NULL, propagation): MS_SHARED, MS_SLAVE, MS_PRIVATE... (| MS_REC).
Status set_propagation(const std::string& target, unsigned long propagation);
// Makes the mount path is on private (not recursively): runc's rootfsParentMountPrivate, so
// that a bind of path made next does not propagate to that mount's peers.
Status make_mount_of_private(const std::string& path);
// A new filesystem as a detached mount (fsopen, fsconfig, fsmount): the EarlyMount steps,
// made before pivot_root. data: comma-separated options, "key=value" or flags. source: what
// /proc/mounts shows as the mount's source ("proc").
Result<UniqueFd> new_detached_mount(const std::string& fstype, unsigned long flags, const std::string& data,
                                    const std::string& source);
// Attaches a detached tree at target (inside the container), creating the mount point as a
// file or a directory to match the tree. The target is resolved inside the container's root,
// through its symlinks when follow (a -v target, as docker's), else through none (refused).
Status attach_tree(int tree_fd, const std::string& target, bool follow);
// pivot_root(".", ".") in new_root, then detaches the old root: no put_old directory is
// written into the container, and nothing of the host stays reachable.
// old_root_shared: the old root's mounts are peers of the host's (made slaves before the detach).
Status pivot_into(const std::string& new_root, bool old_root_shared = false);
// chroot(2) to new_root, entered: a container set up in the caller's mount namespace, where
// pivot_root would move the root of every process of that namespace (runc does the same).
Status chroot_into(const std::string& new_root);
// chroot(2) to the root of process pid (/proc/PID/root): an exec into a container that has no
// mount namespace of its own, so joining the namespaces does not put it in its root.
Status enter_root_of(pid_t pid);
// The id of the mount at path (the topmost one there), as /proc/self/mountinfo numbers it.
Result<uint64_t> mount_id(const std::string& path);
// mkdir -p inside the current root.
Status make_dirs(const std::string& path, unsigned mode);

}  // namespace lxbox::linux_fx
