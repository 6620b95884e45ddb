#include "runtime/plan/security.hpp"

#include "runtime/plan/seccomp_profile.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

namespace lxbox::runtime {

namespace {

// linux/capability.h, in number order.
constexpr std::array<std::string_view, 41> kCapabilities = {
    "CHOWN",          "DAC_OVERRIDE",  "DAC_READ_SEARCH",  "FOWNER",      "FSETID",
    "KILL",           "SETGID",        "SETUID",           "SETPCAP",     "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",      "NET_RAW",     "IPC_LOCK",
    "IPC_OWNER",      "SYS_MODULE",    "SYS_RAWIO",        "SYS_CHROOT",  "SYS_PTRACE",
    "SYS_PACCT",      "SYS_ADMIN",     "SYS_BOOT",         "SYS_NICE",    "SYS_RESOURCE",
    "SYS_TIME",       "SYS_TTY_CONFIG", "MKNOD",           "LEASE",       "AUDIT_WRITE",
    "AUDIT_CONTROL",  "SETFCAP",       "MAC_OVERRIDE",     "MAC_ADMIN",   "SYSLOG",
    "WAKE_ALARM",     "BLOCK_SUSPEND", "AUDIT_READ",       "PERFMON",     "BPF",
    "CHECKPOINT_RESTORE"};

enum Cap : int {
    kChown = 0, kDacOverride = 1, kDacReadSearch = 2, kFowner = 3, kFsetid = 4, kKill = 5,
    kSetgid = 6, kSetuid = 7, kSetpcap = 8, kNetBindService = 10,
    kSysModule = 16, kSysRawio = 17, kSysChroot = 18, kSysPtrace = 19, kSysPacct = 20,
    kSysAdmin = 21, kSysBoot = 22, kSysNice = 23, kSysTime = 25, kSysTtyConfig = 26,
    kMknod = 27, kAuditWrite = 29, kSetfcap = 31, kSyslog = 34, kPerfmon = 38, kBpf = 39,
};

uint64_t all_capabilities() { return (uint64_t{1} << kCapabilities.size()) - 1; }

// The ordinary syscalls every container may make (docker's allowlist without the entries
// that need a capability or an argument check). Names this libseccomp or architecture does
// not know are skipped when the filter is built.
constexpr std::string_view kAllowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_robust_list", "get_thread_area",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32",
    "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
    "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioctl",
    "ioprio_get", "ioprio_set", "ipc", "kcmp", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
    "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
    "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "process_vm_readv",
    "process_vm_writev", "pselect6", "pselect6_time64", "ptrace", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
    "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_robust_list",
    "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
    "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
    "setreuid", "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid", "setuid32",
    "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
    "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
    "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
};

// Syscalls allowed only to a process that keeps the capability.
struct Gated {
    int cap;
    std::string_view syscalls[16];
};
constexpr Gated kGated[] = {
    {kSysAdmin, {"bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie",
                 "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl",
                 "quotactl_fd", "setdomainname", "sethostname"}},
    {kSysAdmin, {"setns", "umount", "umount2", "unshare", "swapon", "swapoff", "pivot_root"}},
    {kSysBoot, {"reboot"}},
    {kSysChroot, {"chroot"}},
    {kSysModule, {"delete_module", "init_module", "finit_module"}},
    {kSysPacct, {"acct"}},
    {kSysPtrace, {"pidfd_getfd", "userfaultfd"}},
    {kSysRawio, {"iopl", "ioperm"}},
    {kSysTime, {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
    {kSysTtyConfig, {"vhangup"}},
    {kSysNice, {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
    {kSyslog, {"syslog"}},
    {kBpf, {"bpf"}},
    {kPerfmon, {"perf_event_open"}},
    {kDacReadSearch, {"open_by_handle_at"}},
};

// The namespace flags of clone(2): creating namespaces needs SYS_ADMIN, as in docker.
constexpr uint64_t kNamespaceFlags = 0x00020000 /* NEWNS */ | 0x02000000 /* NEWCGROUP */ |
                                     0x04000000 /* NEWUTS */ | 0x08000000 /* NEWIPC */ |
                                     0x10000000 /* NEWUSER */ | 0x20000000 /* NEWPID */ |
                                     0x40000000 /* NEWNET */ | 0x00000080 /* NEWTIME */;

constexpr int kAfVsock = 40;
// asm-generic/ioctls.h: push a byte into a terminal's input queue; the console's subcommands
// (TIOCL_PASTESEL pastes the selection into the input the same way).
constexpr uint64_t kTiocsti = 0x5412;
constexpr uint64_t kTioclinux = 0x541C;

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr uint64_t fnv1a(uint64_t h, std::string_view text) {
    for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * kFnvPrime;
    return h;
}

// What default_seccomp() is made of, hashed (once, ~10 µs) so a cached filter is found by its
// key alone, without building the plan. kRulesVersion stands for the rules written out in default_seccomp() (clone,
// clone3, personality, socket, the ioctl refusals): change it with them.
constexpr std::string_view kRulesVersion = "args-2";
uint64_t compute_rules_hash() {
    uint64_t h = fnv1a(kFnvOffset, kRulesVersion);
    for (auto name : kAllowed) h = fnv1a(h, name) * kFnvPrime;
    for (const auto& g : kGated) {
        h = (h ^ static_cast<uint64_t>(g.cap)) * kFnvPrime;
        for (auto name : g.syscalls) h = fnv1a(h, name) * kFnvPrime;
    }
    return h;
}
uint64_t rules_hash() {
    static const uint64_t hash = compute_rules_hash();
    return hash;
}
constexpr int kEnosys = 38;

SeccompRule allow(std::string_view name, std::vector<SeccompArg> args = {}) {
    return {std::string(name), SeccompAction::Allow, 0, std::move(args)};
}

}  // namespace

std::optional<int> capability_number(std::string_view name) {
    std::string upper;
    for (char c : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    std::string_view bare = upper;
    if (bare.substr(0, 4) == "CAP_") bare.remove_prefix(4);
    for (size_t i = 0; i < kCapabilities.size(); ++i)
        if (kCapabilities[i] == bare) return static_cast<int>(i);
    return std::nullopt;
}

std::string capability_name(int number) {
    if (number >= 0 && static_cast<size_t>(number) < kCapabilities.size())
        return "CAP_" + std::string(kCapabilities[number]);
    return "CAP_" + std::to_string(number);
}

uint64_t default_capabilities() {
    // Docker's set without NET_RAW, which podman drops too: a container shares the host's network
    // namespace unless --network none, and a raw AF_PACKET socket there reads every host
    // process's traffic, 127.0.0.1 included. --cap-add NET_RAW gives it back.
    uint64_t m = 0;
    for (int c : {kChown, kDacOverride, kFowner, kFsetid, kKill, kSetgid, kSetuid, kSetpcap, kNetBindService,
                  kSysChroot, kMknod, kAuditWrite, kSetfcap})
        m |= cap_bit(c);
    return m;
}

SeccompPlan default_seccomp(uint64_t caps) {
    SeccompPlan plan;
    plan.rules.reserve(std::size(kAllowed) + 64);
    for (auto name : kAllowed) plan.rules.push_back(allow(name));
    for (const auto& g : kGated) {
        if (!(caps & cap_bit(g.cap))) continue;
        for (auto name : g.syscalls)
            if (!name.empty()) plan.rules.push_back(allow(name));
    }
    // Namespaces: clone only without namespace flags; clone3 hides its flags in memory a filter
    // cannot read, so it answers ENOSYS and libc falls back to clone.
    if (caps & cap_bit(kSysAdmin)) {
        plan.rules.push_back(allow("clone"));
        plan.rules.push_back(allow("clone3"));
    } else {
        plan.rules.push_back(allow("clone", {{0, SeccompArg::Op::MaskedEq, 0, kNamespaceFlags}}));
        plan.rules.push_back({"clone3", SeccompAction::Errno, kEnosys, {}});
    }
    // personality: Linux itself, UNAME26, their 32-bit variants, and the query.
    for (uint64_t persona : {0x0ULL, 0x0008ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL})
        plan.rules.push_back(allow("personality", {{0, SeccompArg::Op::Eq, persona, 0, true}}));
    // Sockets of every family but AF_VSOCK (a channel to the host of a VM).
    plan.rules.push_back(allow("socket", {{0, SeccompArg::Op::Ne, kAfVsock, 0, true}}));
    // A terminal's input: a container may hold the host's terminal as fd 0-2 (lxbox passes its
    // own stdio), and TIOCSTI would type commands into the host shell that runs after it. Its
    // session has no controlling terminal, so the kernel wants CAP_SYS_ADMIN for it; this holds
    // with that capability too. The low 32 bits only: the kernel truncates the request to an
    // unsigned int, so high bits set would slip past a 64-bit compare (flatpak's CVE-2019-10063).
    for (uint64_t request : {kTiocsti, kTioclinux})
        plan.refusals.push_back({"ioctl", SeccompAction::Errno, 1, {{1, SeccompArg::Op::Eq, request, 0, true}}});
    return plan;
}

std::string seccomp_cache_key(uint64_t caps, const std::string& salt) {
    uint64_t h = fnv1a(rules_hash(), salt);
    for (int i = 0; i < 8; ++i) h = (h ^ ((caps >> (8 * i)) & 0xff)) * kFnvPrime;
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

static Status check_seccomp_mode(const SecuritySpec& spec) {
    if (spec.seccomp == "profile" && spec.seccomp_profile.empty())
        return Error(ErrorKind::Invalid, "--seccomp: the profile is empty");
    if (spec.seccomp != "default" && spec.seccomp != "unconfined" && spec.seccomp != "profile")
        return Error(ErrorKind::Invalid, "--seccomp: unknown profile '" + spec.seccomp + "': default or unconfined");
    return {};
}

std::string seccomp_plan_key(const SeccompPlan& plan, const std::string& salt) {
    char out[19];
    std::snprintf(out, sizeof out, "p-%016llx",
                  static_cast<unsigned long long>(fnv1a(kFnvOffset, seccomp_plan_text(plan, salt))));
    return out;
}

std::string seccomp_plan_text(const SeccompPlan& plan, const std::string& salt) {
    std::string text = salt + "|" + std::to_string(static_cast<int>(plan.default_action)) + ":" +
                       std::to_string(plan.default_errno);
    auto add = [&text](const std::vector<SeccompRule>& rules) {
        for (const auto& r : rules) {
            text += "|" + r.syscall + ":" + std::to_string(static_cast<int>(r.action)) + ":" + std::to_string(r.errno_value);
            for (const auto& a : r.args)
                text += ":" + std::to_string(a.index) + "," + std::to_string(static_cast<int>(a.op)) + "," +
                        std::to_string(a.value) + "," + std::to_string(a.mask) + "," + (a.low32 ? "32" : "64");
        }
    };
    add(plan.rules);
    text += "|refused";
    add(plan.refusals);
    return text;
}

Status validate_security(const SecuritySpec& spec) {
    LXBOX_TRY(check_seccomp_mode(spec));
    SecuritySpec light = spec;
    if (spec.seccomp == "default") light.seccomp = "unconfined";  // all but building the default filter
    LXBOX_TRY(plan_security(light));
    return {};
}

Result<SecurityPlan> plan_security(const SecuritySpec& spec, const std::string& kernel_release) {
    SecurityPlan plan;
    uint64_t caps = default_capabilities();
    auto parse = [](const std::vector<std::string>& names, const char* flag) -> Result<std::vector<int>> {
        std::vector<int> out;
        for (const auto& n : names) {
            if (n == "ALL" || n == "all") {
                out.push_back(-1);
                continue;
            }
            auto c = capability_number(n);
            if (!c) return Error(ErrorKind::Invalid, std::string(flag) + ": unknown capability '" + n + "'");
            out.push_back(*c);
        }
        return out;
    };
    if (spec.capabilities && (!spec.cap_add.empty() || !spec.cap_drop.empty()))
        return Error(ErrorKind::Invalid, "--cap-add and --cap-drop do not combine with explicit capability sets");
    for (int c : LXBOX_TRY(parse(spec.cap_drop, "--cap-drop"))) caps &= c < 0 ? 0 : ~cap_bit(c);
    for (int c : LXBOX_TRY(parse(spec.cap_add, "--cap-add"))) caps |= c < 0 ? all_capabilities() : cap_bit(c);
    LXBOX_TRY(check_seccomp_mode(spec));
    if (spec.capabilities) {
        // An OCI process: the sets as named, the filter as given (none when not given).
        const auto& c = *spec.capabilities;
        auto mask = [&](const std::vector<std::string>& names, const char* field) -> Result<uint64_t> {
            uint64_t m = 0;
            for (int n : LXBOX_TRY(parse(names, field))) m |= n < 0 ? all_capabilities() : cap_bit(n);
            return m;
        };
        CapabilityMasks sets{LXBOX_TRY(mask(c.bounding, "process.capabilities.bounding")),
                             LXBOX_TRY(mask(c.effective, "process.capabilities.effective")),
                             LXBOX_TRY(mask(c.inheritable, "process.capabilities.inheritable")),
                             LXBOX_TRY(mask(c.permitted, "process.capabilities.permitted")),
                             LXBOX_TRY(mask(c.ambient, "process.capabilities.ambient"))};
        caps = sets.bounding;
        plan.sets = sets;
    }
    if (spec.privileged) {
        plan.privileged = true;
        plan.capabilities = all_capabilities();
        plan.no_new_privs = false;
        plan.seccomp = false;
        return plan;
    }
    plan.capabilities = caps;
    if (spec.no_new_privs) plan.no_new_privs = *spec.no_new_privs;
    plan.seccomp = spec.seccomp == "default";
    if (spec.seccomp == "profile")
        plan.profile = LXBOX_TRY(parse_docker_seccomp_profile(spec.seccomp_profile, caps, native_docker_arch(),
                                                              kernel_release));
    return plan;
}

const std::vector<std::string>& masked_paths() {
    static const std::vector<std::string> paths = {
        "/proc/asound",        "/proc/acpi",        "/proc/kcore",       "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi",          "/sys/firmware",     "/sys/devices/virtual/powercap"};
    return paths;
}

const std::vector<std::string>& readonly_paths() {
    static const std::vector<std::string> paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                   "/proc/sysrq-trigger"};
    return paths;
}

}  // namespace lxbox::runtime
