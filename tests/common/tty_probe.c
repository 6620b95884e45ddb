/* A static probe run inside containers by the terminal escape tests (tests/e2e/terminal_test.cpp):
 * tries to type into each terminal among its fds 0-2 as an attacker would, and writes what
 * happened to the file named by its argument, not to its stdout: the fds under test must stay
 * as lxbox gave them. One line per fd and request:
 *   fd 1 tty | fd 0 other        whether the fd is a terminal at all
 *   tiocsti 1 ok | EPERM | ...   TIOCSTI, pushing "echo lxbox-typed" and Enter into its input
 *   tiocsti-high 1 ...           the same request with bits above 32 set (the kernel ignores
 *                                them; a filter comparing 64 bits would not)
 *   tioclinux 1 ...              TIOCLINUX (TIOCL_GETSHIFTSTATE: harmless where it is allowed)
 * and then through /dev/tty, the caller's controlling terminal whatever its fds are:
 *   devtty open ok | ENXIO | ...
 *   devtty tiocsti ...           (only when it opened)
 *   tty_probe REPORT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char* answer(long r) {
    if (r >= 0) return "ok";
    const char* e = strerrorname_np(errno);
    return e ? e : "E?";
}

/* Pushes the whole line, one byte per call as TIOCSTI takes it; the first failure is the answer. */
static long type_line(int fd, unsigned long request) {
    const char* line = "echo lxbox-typed\n";
    for (const char* c = line; *c; ++c) {
        long r = syscall(SYS_ioctl, fd, request, c);
        if (r < 0) return r;
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: tty_probe REPORT\n");
        return 2;
    }
    FILE* report = fopen(argv[1], "we");
    if (!report) {
        perror(argv[1]);
        return 2;
    }
    for (int fd = 0; fd < 3; ++fd) {
        fprintf(report, "fd %d %s\n", fd, isatty(fd) ? "tty" : "other");
        fprintf(report, "tiocsti %d %s\n", fd, answer(type_line(fd, TIOCSTI)));
        fprintf(report, "tiocsti-high %d %s\n", fd, answer(type_line(fd, (1UL << 32) | TIOCSTI)));
        char subcode = 6; /* TIOCL_GETSHIFTSTATE */
        fprintf(report, "tioclinux %d %s\n", fd, answer(syscall(SYS_ioctl, fd, (unsigned long)TIOCLINUX, &subcode)));
    }
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    fprintf(report, "devtty open %s\n", answer(tty));
    if (tty >= 0) fprintf(report, "devtty tiocsti %s\n", answer(type_line(tty, TIOCSTI)));
    return fclose(report) == 0 ? 0 : 2;
}
