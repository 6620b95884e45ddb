#include "runtime/linux/mounts.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "runtime/base/log.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::linux_fx {

Status make_root_private() {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return Error::last("make / private");
    return {};
}

Status mount_fs(const std::string& source, const std::string& target, const std::string& fstype,
                unsigned long flags, const std::string& data) {
    spdlog::debug("mount {} on {} type {} ({})", source, target, fstype, data);
    if (::mount(source.c_str(), target.c_str(), fstype.c_str(), flags, data.empty() ? nullptr : data.c_str()) != 0)
        return Error::last("mount " + fstype + " on " + target);
    return {};
}

namespace {

// 6.8's lowerdir+: no page limit. EINVAL (an unknown key) on older kernels.
Status mount_lowerdir_plus(const runtime::OverlayPlan& plan) {
    const std::string what = "mount overlay on " + plan.merged;
    UniqueFd fs(sys::fsopen("overlay"));
    if (!fs) return Error::last(what);
    for (const auto& lower : plan.lowers)
        if (sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lower.c_str()) != 0)
            return Error::last(what + " (lowerdir+ " + lower + ")");
    if (sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "upperdir", plan.upper.c_str()) != 0 ||
        sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "workdir", plan.work.c_str()) != 0)
        return Error::last(what + " (upperdir, workdir)");
    if (!plan.extra_options.empty() &&
        sys::fsconfig(fs.get(), FSCONFIG_SET_FLAG, plan.extra_options.c_str(), nullptr) != 0)
        return Error::last(what + " (" + plan.extra_options + ")");
    if (sys::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0) return Error::last(what);
    UniqueFd mnt(sys::fsmount(fs.get(), 0));
    if (!mnt) return Error::last(what);
    if (sys::move_mount(mnt.get(), "", AT_FDCWD, plan.merged.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        return Error::last(what);
    return {};
}

// Before 6.8: short links relative to lower_base, mounted from there (the kernel resolves
// relative lowers against the caller's working directory).
Status mount_short_lowers(const runtime::OverlayPlan& plan) {
    if (plan.short_options.size() > runtime::kOverlayOptionsMax)
        return Error(ErrorKind::Unsupported, "mount overlay on " + plan.merged + ": " +
                                                 std::to_string(plan.lowers.size()) +
                                                 " layers do not fit in the mount options of this kernel "
                                                 "(Linux 6.8 takes any number)");
    auto here = LXBOX_TRY(open_fd(".", O_PATH | O_DIRECTORY));
    if (::chdir(plan.lower_base.c_str()) != 0) return Error::last("enter " + plan.lower_base);
    Status st = mount_fs("overlay", plan.merged, "overlay", 0, plan.short_options);
    if (::fchdir(here.get()) != 0 && st) st = Error::last("return from " + plan.lower_base);
    return st;
}

}  // namespace

Status mount_overlay_layers(const runtime::OverlayPlan& plan, bool force_short) {
    if (!force_short) {
        Status st = mount_lowerdir_plus(plan);
        if (st || st.error().errno_value != EINVAL) return st;
        spdlog::debug("{}: short lower names instead", st.error().message);
    }
    return mount_short_lowers(plan);
}

Status mount_fuse_overlay(const std::string& program, const runtime::OverlayPlan& plan) {
    // allow_other: the kernel lets only the mount's owner (the container's root) in otherwise.
    const std::string options = plan.options + ",allow_other";
    std::vector<std::string> args{program, "-o", options, plan.merged};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto err = LXBOX_TRY(make_pipe());
    spdlog::debug("{} -o {} {}", program, options, plan.merged);
    // The daemon may not share the container's mount namespace: pivot_root moves the root of
    // every process there to the new root, which for the daemon is its own mount (its next
    // path lookup would wait on itself). It mounts from a namespace of its own, on a shared
    // bind of the mount point that propagates the mount back here.
    LXBOX_TRY(mount_fs(plan.merged, plan.merged, "", MS_BIND, ""));
    LXBOX_TRY(set_propagation(plan.merged, MS_SHARED));
    int pidfd = -1;
    const pid_t pid = sys::clone3_pidfd(0, &pidfd);
    if (pid < 0) return Error::last("fork");
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(err.write.get(), 2) < 0) ::_exit(126);
        if (::unshare(CLONE_NEWNS) != 0) {
            (void)!::write(2, "cannot make a mount namespace for its daemon\n", 45);
            ::_exit(126);
        }
        // Its daemon outlives this call: it must hold none of the container's pipes open.
        sys::close_range(3, ~0u, 0);
        ::execv(program.c_str(), argv.data());
        ::_exit(127);
    }
    err.write.reset();
    const UniqueFd child(pidfd);
    // It returns once the mount is up and its daemon detached; one that hangs is given up on.
    constexpr int kMountTimeoutMs = 20000;
    pollfd exited{child.get(), POLLIN, 0};
    if (::poll(&exited, 1, kMountTimeoutMs) == 0) {
        sys::pidfd_send_signal(child.get(), SIGKILL);
        (void)wait_exit(child.get());
        return Error(ErrorKind::System, "mount the root with " + program + ": no mount within " +
                                            std::to_string(kMountTimeoutMs / 1000) + " s");
    }
    const int code = LXBOX_TRY(wait_exit(child.get()));
    // Nothing mounted in the container from here on may reach the daemon's namespace (and
    // pivot_root wants no shared mount).
    // (The whole tree: the path reaches only the FUSE mount, not the shared bind under it.)
    if (code == 0) return make_root_private();
    // Its daemon let go of stderr when it detached: what is there is the mount's complaint.
    ::fcntl(err.read.get(), F_SETFL, O_NONBLOCK);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(err.read.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
    text = last_line(std::move(text));
    if (text.empty())
        text = code == 127  ? "cannot run it"
               : code > 128 ? "killed by signal " + std::to_string(code - 128)
                            : "exit status " + std::to_string(code);
    return Error(ErrorKind::System, "mount the root with " + program + ": " + text);
}

Status make_dirs(const std::string& path, unsigned mode) {
    for (size_t pos = 1;; ++pos) {
        pos = path.find('/', pos);
        const std::string part = path.substr(0, pos);
        if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) return Error::last("create " + part);
        if (pos == std::string::npos) return {};
    }
}

namespace {

// The mount point `target`, opened O_PATH inside the container's root (after pivot_root the
// working directory is "/", the root RESOLVE_IN_ROOT resolves from): through the root's
// symlinks when follow, else through none; never through /proc's magic links.
Result<UniqueFd> open_mount_target(const std::string& target, bool follow) {
    const uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (follow ? 0 : RESOLVE_NO_SYMLINKS);
    UniqueFd at(sys::openat2(AT_FDCWD, target.c_str(), O_PATH, resolve));
    if (at) return at;
    const int err = errno;
    if (err == ELOOP && !follow) {
        struct stat st;
        const bool itself = ::lstat(target.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
        return Error(ErrorKind::Refused,
                     std::string(itself ? "it" : "a directory above it") + " is a symlink in the container's root: refused");
    }
    Error e(ErrorKind::System, std::strerror(err));  // the caller names the target
    e.errno_value = err;
    return e;
}

// mount(2) on a directory reached through no symlink: opened first, then mounted on as the
// working directory ("."), so that no link can be swapped in between the check and the mount.
Status mount_in_place(const std::string& source, const std::string& target, const std::string& fstype,
                      unsigned long flags, const std::string& data) {
    const std::string what = "mount " + fstype + " on " + target;
    auto at = LXBOX_TRY_CTX(open_mount_target(target, false), what);
    spdlog::debug("mount {} on {} type {} ({}), no symlink followed", source, target, fstype, data);
    if (::fchdir(at.get()) != 0) return Error::last(what);
    const int rc = ::mount(source.c_str(), ".", fstype.c_str(), flags, data.empty() ? nullptr : data.c_str());
    const int err = errno;
    // Back to the root: the next target is resolved from the working directory.
    if (::chdir("/") != 0) return Error::last("enter /");
    if (rc != 0) return Error::sys(err, what);
    return {};
}

}  // namespace

Status apply(const runtime::MountOp& op) {
    using runtime::MountOpKind;
    switch (op.kind) {
    case MountOpKind::MakeDir:
        if (::mkdir(op.target.c_str(), op.mode) != 0 && errno != EEXIST) return Error::last("create " + op.target);
        return {};
    case MountOpKind::Mount: {
        const std::string& source = op.source.empty() ? op.fstype : op.source;
        LXBOX_TRY(op.follow_symlinks ? mount_fs(source, op.target, op.fstype, op.flags, op.data)
                                     : mount_in_place(source, op.target, op.fstype, op.flags, op.data));
        return op.propagation ? set_propagation(op.target, op.propagation) : Status();
    }
    case MountOpKind::MakeDevice: {
        const mode_t type = op.device_type == 'b' ? S_IFBLK : op.device_type == 'p' ? S_IFIFO : S_IFCHR;
        if (::mknod(op.target.c_str(), type | op.mode, makedev(op.major, op.minor)) != 0) {
            if (errno == EEXIST) return {};
            return Error::last("create device " + op.target);
        }
        if ((op.uid != 0 || op.gid != 0) && ::chown(op.target.c_str(), op.uid, op.gid) != 0)
            return Error::last("chown " + op.target);
        return {};
    }
    case MountOpKind::Remount:
        if (::mount(nullptr, op.target.c_str(), nullptr, MS_REMOUNT | MS_BIND | op.flags, nullptr) != 0)
            return Error::last("remount " + op.target);
        return {};
    case MountOpKind::WriteFile: {
        UniqueFd fd(::open(op.target.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
        if (!fd) return Error::last("open " + op.target);
        return write_all(fd.get(), op.data).context("write " + op.target);
    }
    case MountOpKind::Mask:
    case MountOpKind::ReadOnly: {
        // The root itself: its own mount flag (a mount moved over "/" would not cover the
        // process's root, which stays the mount underneath).
        if (op.kind == MountOpKind::ReadOnly && op.target == "/") {
            if (::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
                return Error::last("make the root read-only");
            return {};
        }
        struct stat st;
        if (::lstat(op.target.c_str(), &st) != 0) return {};  // not on this kernel: nothing to hide
        if (op.kind == MountOpKind::Mask && S_ISDIR(st.st_mode))
            return mount_fs("tmpfs", op.target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=555");
        auto tree = LXBOX_TRY(clone_tree(op.kind == MountOpKind::Mask ? "/dev/null" : op.target,
                                         op.kind == MountOpKind::ReadOnly));
        if (sys::move_mount(tree.get(), "", AT_FDCWD, op.target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
            return Error::last((op.kind == MountOpKind::Mask ? "mask " : "make read-only ") + op.target);
        return {};
    }
    case MountOpKind::HostBind:
    case MountOpKind::EarlyMount:
        return Error(ErrorKind::Internal, "mount on " + op.target + " not made before pivot_root");
    case MountOpKind::Symlink:
        if (::symlink(op.link.c_str(), op.target.c_str()) != 0 && errno != EEXIST)
            return Error::last("create symlink " + op.target);
        return {};
    }
    return Error(ErrorKind::Internal, "unknown mount step");
}

Status set_propagation(const std::string& target, unsigned long propagation) {
    if (::mount(nullptr, target.c_str(), nullptr, propagation, nullptr) != 0)
        return Error::last("set the propagation of " + target);
    return {};
}

MountAttrChange mount_attrs_of(unsigned long flags) {
    MountAttrChange c;
    if (flags & MS_RDONLY) c.set |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID) c.set |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV) c.set |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC) c.set |= MOUNT_ATTR_NOEXEC;
    if (flags & MS_NODIRATIME) c.set |= MOUNT_ATTR_NODIRATIME;
    // The atime modes are one field, not bits: the kernel refuses (EINVAL) a mode set without
    // MOUNT_ATTR__ATIME cleared, as mount(8)'s "noatime" on a bind would ask.
    const unsigned long atime = flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME);
    if (atime) {
        c.clear |= MOUNT_ATTR__ATIME;
        c.set |= (atime & MS_NOATIME) ? MOUNT_ATTR_NOATIME : (atime & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME
                                                                                      : MOUNT_ATTR_RELATIME;
    }
    return c;
}

Result<UniqueFd> clone_tree_with(const std::string& path, bool recursive, unsigned long flags) {
    UniqueFd fd(sys::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0)));
    if (!fd) return Error::last("bind " + path, errno == ENOENT ? ErrorKind::NotFound : ErrorKind::System);
    const MountAttrChange attr = mount_attrs_of(flags);
    struct mount_attr change {};
    change.attr_set = attr.set;
    change.attr_clr = attr.clear;
    const unsigned at = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if ((attr.set || attr.clear) && ::syscall(SYS_mount_setattr, fd.get(), "", at, &change, sizeof change) != 0)
        return Error::last("set the mount options of " + path);
    return fd;
}

Result<UniqueFd> clone_tree(const std::string& path, bool readonly) {
    UniqueFd fd(sys::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!fd) return Error::last("bind " + path, errno == ENOENT ? ErrorKind::NotFound : ErrorKind::System);
    if (readonly && sys::mount_setattr_rdonly(fd.get(), true) != 0) return Error::last("make " + path + " read-only");
    return fd;
}

Result<UniqueFd> new_detached_mount(const std::string& fstype, unsigned long flags, const std::string& data,
                                    const std::string& source) {
    const std::string what = "mount " + fstype;
    UniqueFd fs(sys::fsopen(fstype.c_str()));
    if (!fs) return Error::last(what);
    if (!source.empty() && sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, "source", source.c_str()) != 0)
        return Error::last(what + " (source " + source + ")");
    for (size_t pos = 0; pos < data.size();) {
        size_t end = data.find(',', pos);
        if (end == std::string::npos) end = data.size();
        const std::string opt = data.substr(pos, end - pos);
        const auto eq = opt.find('=');
        const int rc = eq == std::string::npos
                           ? sys::fsconfig(fs.get(), FSCONFIG_SET_FLAG, opt.c_str(), nullptr)
                           : sys::fsconfig(fs.get(), FSCONFIG_SET_STRING, opt.substr(0, eq).c_str(),
                                           opt.substr(eq + 1).c_str());
        if (rc != 0) return Error::last(what + " (option " + opt + ")");
        pos = end + 1;
    }
    if (sys::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0) return Error::last(what);
    unsigned attrs = 0;
    if (flags & MS_RDONLY) attrs |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID) attrs |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV) attrs |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC) attrs |= MOUNT_ATTR_NOEXEC;
    UniqueFd mnt(sys::fsmount(fs.get(), attrs));
    if (!mnt) return Error::last(what);
    return mnt;
}

static Status make_mount_point(const std::string& target, bool directory, bool follow) {
    const auto slash = target.rfind('/');
    if (slash > 0) LXBOX_TRY(make_dirs(target.substr(0, slash), 0755));
    if (directory) {
        if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) return Error::last("create " + target);
        return {};
    }
    // An existing file is a mount point as it is. Not opened for writing: that would copy an
    // image file up into the container's layer (and open a device node).
    struct stat st;
    if ((follow ? ::stat(target.c_str(), &st) : ::lstat(target.c_str(), &st)) == 0) return {};
    int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW), 0644);
    if (fd < 0) return Error::last("create " + target);
    ::close(fd);
    return {};
}

Status attach_tree(int tree_fd, const std::string& target, bool follow) {
    struct stat st;
    if (::fstat(tree_fd, &st) != 0) return Error::last("stat bind source for " + target);
    LXBOX_TRY(make_mount_point(target, S_ISDIR(st.st_mode), follow));
    // Resolve the target once, inside the container's root and without /proc magic links, and
    // mount on what was resolved: a symlink the image plants (or swaps in meanwhile) cannot
    // move the mount elsewhere, and nothing is mounted into /proc, where it could hide one of
    // the masks or reach the kernel's knobs (runc refuses /proc destinations too).
    auto at = LXBOX_TRY_CTX(open_mount_target(target, follow), "resolve mount target " + target);
    struct statfs fs;
    if (::fstatfs(at.get(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC)
        return Error(ErrorKind::Refused, "mount target " + target + " is in /proc: refused");
    if (sys::move_mount(tree_fd, "", at.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        return Error::last("bind mount on " + target);
    return {};
}

Status make_mount_of_private(const std::string& path) {
    // EINVAL: not a mount point; the mount it is on is its nearest ancestor that is one.
    for (std::string p = path;;) {
        if (::mount(nullptr, p.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) return {};
        if (errno != EINVAL || p == "/") return Error::last("make the mount of " + path + " private");
        const auto slash = p.rfind('/');
        p = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
    }
}

Status pivot_into(const std::string& new_root, bool old_root_shared) {
    if (::chdir(new_root.c_str()) != 0) return Error::last("enter " + new_root);
    // The old root ends up stacked on "." and is lazily detached right away; when its mounts
    // are the host's peers (rootfsPropagation rshared), made a slave first (runc's order), so
    // that their unmounts do not reach the host's.
    if (sys::pivot_root(".", ".") != 0) return Error::last("pivot_root to " + new_root);
    if (old_root_shared && ::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
        return Error::last("make the old root a slave");
    if (::umount2(".", MNT_DETACH) != 0) return Error::last("detach the old root");
    if (::chdir("/") != 0) return Error::last("enter /");
    return {};
}

Status chroot_into(const std::string& new_root) {
    if (::chdir(new_root.c_str()) != 0) return Error::last("enter " + new_root);
    if (::chroot(".") != 0) return Error::last("chroot to " + new_root);
    if (::chdir("/") != 0) return Error::last("enter /");
    return {};
}

Status enter_root_of(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/root";
    auto root = LXBOX_TRY(open_fd(path, O_PATH | O_DIRECTORY));
    if (::fchdir(root.get()) != 0 || ::chroot(".") != 0) return Error::last("enter the root of process " + std::to_string(pid));
    if (::chdir("/") != 0) return Error::last("enter /");
    return {};
}

Result<uint64_t> mount_id(const std::string& path) {
    struct statx st {};
    if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &st) != 0) return Error::last("stat " + path);
    if (!(st.stx_mask & STATX_MNT_ID)) return Error(ErrorKind::Unsupported, "stat " + path + ": no mount id (Linux 5.8)");
    return st.stx_mnt_id;
}

}  // namespace lxbox::linux_fx
