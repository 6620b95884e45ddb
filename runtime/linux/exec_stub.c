/* lxbox's exec stub: every command lxbox starts inside a container is exec'd through this tiny
 * program, run from a sealed memfd (runtime/linux/exec_stub.hpp), instead of straight from
 * lxbox. The kernel resolves a script's `#!/proc/self/exe` through the exec'ing process: from
 * lxbox that is the host's lxbox binary, which then runs inside the container where a process
 * can open it and, once it is no longer busy, overwrite it (CVE-2019-5736). From here it is
 * this stub's sealed copy, which nothing can write.
 *
 *   STUB --lxbox-exec-stub REPORT_FD FILE ARGV0 ARGS...
 *
 * execvp(FILE, ARGV) with the PATH of the environment it was given (glibc's rules: '/' in FILE
 * means no search, EACCES is remembered while the search goes on, a file without a #! or ELF
 * header runs under /bin/sh). When nothing could be exec'd it writes lxbox's child report to
 * REPORT_FD (the JSON of runtime/container/child.cpp's fail(); "lxbox: ..." on stderr when
 * REPORT_FD is -1) and exits 127 or 126 as exec_failure_exit_code() says.
 *
 * Freestanding on purpose (no libc, one 3 KiB segment): its copy and its exec are on the start-up path
 * of every container. Used any other way (run as an interpreter, say) it exits 127. */

#include <stddef.h>

#define STUB_ENOENT 2
#define STUB_E2BIG 7
#define STUB_ENOEXEC 8
#define STUB_EACCES 13
#define STUB_ENOTDIR 20
#define STUB_ESTALE 116
#define STUB_ENODEV 19
#define STUB_ETIMEDOUT 110
#define STUB_F_SETFD 2
#define STUB_FD_CLOEXEC 1

#if defined(__x86_64__)
#define SYS_WRITE 1
#define SYS_FCNTL 72
#define SYS_EXECVE 59
#define SYS_EXIT_GROUP 231
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
__asm__(".text\n.global _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call stub_main\n hlt\n");
#elif defined(__aarch64__)
#define SYS_WRITE 64
#define SYS_FCNTL 25
#define SYS_EXECVE 221
#define SYS_EXIT_GROUP 94
static long sys3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n mov x0, sp\n bl stub_main\n");
#else
#error "the exec stub knows the syscalls of x86-64 and aarch64 only"
#endif

/* What the compiler may call for copies and zeroing of its own. */
void* memcpy(void* dst, const void* src, size_t n) {
    char* d = dst;
    const char* s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void* memset(void* dst, int c, size_t n) {
    char* d = dst;
    while (n--) *d++ = (char)c;
    return dst;
}

static size_t len(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

static void put(int fd, const char* s, size_t n) {
    while (n > 0) {
        long w = sys3(SYS_WRITE, fd, (long)s, (long)n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

__attribute__((noreturn)) static void stub_exit(int code) {
    for (;;) sys3(SYS_EXIT_GROUP, code, 0, 0);
}

static int starts_with(const char* s, const char* prefix) {
    while (*prefix)
        if (*s++ != *prefix++) return 0;
    return 1;
}

static int parse_fd(const char* s) {
    if (s[0] == '-' && s[1] == '1' && s[2] == 0) return -1;
    int v = 0;
    if (!*s) return -2;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9' || v > 100000) return -2;
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* glibc's wording, for the errors execve can return; others are named by number. */
static const char* error_text(int err, char* buf) {
    switch (err) {
        case 1: return "Operation not permitted";
        case 2: return "No such file or directory";
        case 5: return "Input/output error";
        case 7: return "Argument list too long";
        case 8: return "Exec format error";
        case 12: return "Cannot allocate memory";
        case 13: return "Permission denied";
        case 14: return "Bad address";
        case 20: return "Not a directory";
        case 21: return "Is a directory";
        case 22: return "Invalid argument";
        case 23: return "Too many open files in system";
        case 24: return "Too many open files";
        case 26: return "Text file busy";
        case 36: return "File name too long";
        case 40: return "Too many levels of symbolic links";
        case 80: return "Accessing a corrupted shared library";
    }
    char* p = buf;
    const char* prefix = "Unknown error ";
    while (*prefix) *p++ = *prefix++;
    char digits[12];
    int n = 0;
    do digits[n++] = (char)('0' + err % 10); while ((err /= 10) > 0 && n < 11);
    while (n > 0) *p++ = digits[--n];
    *p = 0;
    return buf;
}

/* s as a JSON string's contents: quotes, backslashes and control characters escaped. */
static void put_json_text(int fd, const char* s) {
    static const char hex[] = "0123456789abcdef";
    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(fd, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(fd, e, 6);
        } else {
            put(fd, (const char*)&c, 1);
        }
    }
}

__attribute__((noreturn)) static void report(int fd, const char* file, int err) {
    char buf[32];
    const int code = err == STUB_ENOENT || err == STUB_ENOTDIR ? 127 : 126;
    const char* text = error_text(err, buf);
    if (fd < 0) {
        put(2, "lxbox: exec ", 12);
        put(2, file, len(file));
        put(2, ": ", 2);
        put(2, text, len(text));
        put(2, "\n", 1);
        stub_exit(code);
    }
    char num[12];
    int n = 0, e = err;
    do num[n++] = (char)('0' + e % 10); while ((e /= 10) > 0 && n < 11);
    put(fd, code == 127 ? "{\"exit_code\":127" : "{\"exit_code\":126", 16);
    put(fd, ",\"error\":{\"kind\":\"system\",\"errno\":", 34);
    while (n > 0) put(fd, &num[--n], 1);
    put(fd, ",\"message\":\"exec ", 17);
    put_json_text(fd, file);
    put(fd, ": ", 2);
    put_json_text(fd, text);
    put(fd, "\"}}", 3);
    stub_exit(code);
}

/* execve; a file the kernel will not exec (no #!, no ELF header) runs under /bin/sh, as
 * execvp does. Returns the errno of the exec of path (ENOEXEC, as glibc, when the shell failed). */
static int exec_file(const char* path, char** argv, char** envp) {
    long r = sys3(SYS_EXECVE, (long)path, (long)argv, (long)envp);
    if (r != -STUB_ENOEXEC) return (int)-r;
    size_t argc = 0;
    while (argv[argc]) ++argc;
    if (argc > 4096) return STUB_E2BIG;
    char* sh_argv[argc + 2];
    sh_argv[0] = (char*)"/bin/sh";
    sh_argv[1] = (char*)path;
    for (size_t i = 1; i <= argc; ++i) sh_argv[i + 1] = argv[i];
    sys3(SYS_EXECVE, (long)"/bin/sh", (long)sh_argv, (long)envp);
    return STUB_ENOEXEC;
}

static const char* path_of(char** envp) {
    for (; *envp; ++envp)
        if (starts_with(*envp, "PATH=")) return *envp + 5;
    return "/bin:/usr/bin"; /* glibc's execvp default */
}

/* Tries each directory of PATH; the error to report when none worked. */
static int search_path(const char* file, char** argv, char** envp) {
    const char* dirs = path_of(envp);
    const size_t file_len = len(file);
    int got_eacces = 0;
    for (const char* p = dirs;; ++p) {
        const char* end = p;
        while (*end && *end != ':') ++end;
        const size_t dir_len = (size_t)(end - p);
        char path[dir_len + file_len + 2];
        size_t at = 0;
        for (size_t i = 0; i < dir_len; ++i) path[at++] = p[i];
        if (dir_len > 0) path[at++] = '/';
        for (size_t i = 0; i <= file_len; ++i) path[at++] = file[i];
        const int err = exec_file(path, argv, envp);
        if (err == STUB_EACCES) {
            got_eacces = 1;
        } else if (err != STUB_ENOENT && err != STUB_ENOTDIR && err != STUB_ESTALE && err != STUB_ENODEV &&
                   err != STUB_ETIMEDOUT) {
            return err;
        }
        if (!*end) break;
        p = end;
    }
    return got_eacces ? STUB_EACCES : STUB_ENOENT;
}

__attribute__((noreturn, used)) void stub_main(long* sp) {
    const int argc = (int)sp[0];
    char** argv = (char**)(sp + 1);
    char** envp = argv + argc + 1;
    if (argc < 5 || !starts_with(argv[1], "--lxbox-exec-stub") || argv[1][17] != 0) {
        static const char usage[] = "lxbox-exec: not a program to run (lxbox starts commands through it)\n";
        put(2, usage, sizeof usage - 1);
        stub_exit(127);
    }
    const int fd = parse_fd(argv[2]);
    if (fd < -1) stub_exit(127);
    const char* file = argv[3];
    char** cmd_argv = argv + 4;
    /* The report pipe closes when the command's exec succeeds: lxbox reads EOF as "started". */
    if (fd >= 0) sys3(SYS_FCNTL, fd, STUB_F_SETFD, STUB_FD_CLOEXEC);
    int err;
    if (!*file) {
        err = STUB_ENOENT;
    } else if (len(file) > 4095) {
        err = 36;
    } else {
        int has_slash = 0;
        for (const char* c = file; *c; ++c) has_slash |= *c == '/';
        if (has_slash) {
            err = exec_file(file, cmd_argv, envp);
        } else {
            err = search_path(file, cmd_argv, envp);
        }
    }
    report(fd, file, err);
}
