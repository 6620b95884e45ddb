/* A static probe run inside containers by the hardening tests: makes one syscall with
 * harmless arguments and prints "ok" or the errno's name, so a test can tell a seccomp or
 * capability refusal (EPERM) from the kernel's own answer (EINVAL, EFAULT, ENOSYS...).
 *   syscall_probe NAME     e.g. keyctl, bpf, unshare-user, clone-newuser, socket-vsock */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long probe(const char* name) {
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    if (!strcmp(name, "add_key")) return syscall(SYS_add_key, "user", "lxbox", "x", 1, -3);
    if (!strcmp(name, "request_key")) return syscall(SYS_request_key, "user", "lxbox", NULL, -3);
    if (!strcmp(name, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    }
    if (!strcmp(name, "perf_event_open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    }
    if (!strcmp(name, "userfaultfd")) return syscall(SYS_userfaultfd, 0);
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0);
    if (!strcmp(name, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
    if (!strcmp(name, "init_module")) return syscall(SYS_init_module, NULL, 0, "");
    if (!strcmp(name, "mount")) return mount("none", "/tmp", "tmpfs", 0, NULL);
    if (!strcmp(name, "unshare-user")) return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "clone-newuser") || !strcmp(name, "clone-plain")) {
        long flags = SIGCHLD | (!strcmp(name, "clone-newuser") ? CLONE_NEWUSER : 0);
        long pid = syscall(SYS_clone, flags, 0, NULL, NULL, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
    if (!strcmp(name, "personality-query")) return personality(0xffffffff) < 0 ? -1 : 0;
    if (!strcmp(name, "personality-norandom")) return personality(ADDR_NO_RANDOMIZE);
    if (!strcmp(name, "socket-vsock")) return socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
    if (!strcmp(name, "socket-unix")) return socket(AF_UNIX, SOCK_STREAM, 0);
    fprintf(stderr, "syscall_probe: unknown probe %s\n", name);
    _exit(2);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: syscall_probe NAME\n");
        return 2;
    }
    errno = 0;
    long r = probe(argv[1]);
    if (r >= 0 || errno == 0) {
        puts("ok");
        return 0;
    }
    const char* e = strerrorname_np(errno);
    puts(e ? e : "E?");
    return 1;
}
