// Thin wrappers for the syscalls glibc 2.36 does not wrap (or wraps behind headers that clash
// with <linux/*.h>): clone3 with a pidfd, pidfd_open, pidfd_send_signal, the new mount API,
// pivot_root, close_range and openat2. Each returns what the raw syscall returns; errno is set.
#pragma once

#include <linux/openat2.h>  // RESOLVE_* for openat2's callers
#include <sys/types.h>

#include <cstdint>

namespace lxbox::sys {

// clone3(2) with CLONE_PIDFD: like fork() (no CLONE_VM), plus namespace flags. Returns the
// child's pid in the parent (pidfd filled), 0 in the child, -1 on error.
pid_t clone3_pidfd(uint64_t flags, int* pidfd);
// clone3(2) with CLONE_PARENT: the child is the caller's parent's child (its exit signal the
// caller's own). Returns the child's pid in the caller, 0 in the child, -1 on error.
pid_t clone3_sibling(uint64_t flags);
int pidfd_open(pid_t pid);
int pidfd_send_signal(int pidfd, int sig);
int open_tree(int dirfd, const char* path, unsigned flags);
int move_mount(int from_dirfd, const char* from_path, int to_dirfd, const char* to_path, unsigned flags);
int mount_setattr_rdonly(int dirfd, bool recursive);
// mount_setattr on a detached tree: MOUNT_ATTR_* bits to set.
int mount_setattr_set(int dirfd, uint64_t attr_set, bool recursive);
// fsopen/fsconfig/fsmount: a new filesystem instance as a detached mount (all fds O_CLOEXEC).
int fsopen(const char* fstype);
int fsconfig(int fs_fd, unsigned cmd, const char* key, const char* value);
int fsmount(int fs_fd, unsigned attr_flags);
int pivot_root(const char* new_root, const char* put_old);
int close_range(unsigned first, unsigned last, unsigned flags);
int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags);
// openat2(2) with how = {flags | O_CLOEXEC, 0, resolve}: every fd lxbox opens is close-on-exec.
int openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve);

}  // namespace lxbox::sys
