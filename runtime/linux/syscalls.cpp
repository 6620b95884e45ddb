#include "runtime/linux/syscalls.hpp"

#include <fcntl.h>
#include <sched.h>
#include <linux/mount.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lxbox::sys {

namespace {

// struct clone_args of <linux/sched.h>, declared here because that header clashes with <sched.h>.
struct CloneArgs {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};
constexpr uint64_t kClonePidfd = 0x00001000;

}  // namespace

pid_t clone3_pidfd(uint64_t flags, int* pidfd) {
    CloneArgs args{};
    args.flags = flags | kClonePidfd;
    args.pidfd = reinterpret_cast<uint64_t>(pidfd);
    args.exit_signal = SIGCHLD;
    // Only the first 64 bytes (CLONE_ARGS_SIZE_VER0): older kernels reject a bigger struct.
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, 64));
}

pid_t clone3_sibling(uint64_t flags) {
    CloneArgs args{};
    // clone3 wants no exit signal with CLONE_PARENT: the child gets the caller's.
    args.flags = flags | CLONE_PARENT;
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, 64));
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int open_tree(int dirfd, const char* path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_open_tree, dirfd, path, flags));
}

int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags));
}

int mount_setattr_rdonly(int dirfd, bool recursive) {
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    return static_cast<int>(::syscall(SYS_mount_setattr, dirfd, "", flags, &attr, sizeof attr));
}

int mount_setattr_set(int dirfd, uint64_t attr_set, bool recursive) {
    struct mount_attr attr {};
    attr.attr_set = attr_set;
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    return static_cast<int>(::syscall(SYS_mount_setattr, dirfd, "", flags, &attr, sizeof attr));
}

int fsopen(const char* fstype) {
    return static_cast<int>(::syscall(SYS_fsopen, fstype, FSOPEN_CLOEXEC));
}

int fsconfig(int fs_fd, unsigned cmd, const char* key, const char* value) {
    return static_cast<int>(::syscall(SYS_fsconfig, fs_fd, cmd, key, value, 0));
}

int fsmount(int fs_fd, unsigned attr_flags) {
    return static_cast<int>(::syscall(SYS_fsmount, fs_fd, FSMOUNT_CLOEXEC, attr_flags));
}

int pivot_root(const char* new_root, const char* put_old) {
    return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

int close_range(unsigned first, unsigned last, unsigned flags) {
    return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
    return static_cast<int>(::syscall(SYS_execveat, dirfd, path, argv, envp, flags));
}

int openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
    struct open_how how = {};
    how.flags = flags | O_CLOEXEC;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

}  // namespace lxbox::sys
