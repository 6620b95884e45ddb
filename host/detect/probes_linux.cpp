// The probe children and the namespace, overlayfs and seccomp probes (KVM: kvm_probe_linux.cpp).
#ifdef __linux__

#include "host/detect/probes_linux.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "runtime/base/unique_fd.hpp"

namespace lxbox::detect::probes {

namespace {

using Clock = std::chrono::steady_clock;

// Reads one report, giving up at the deadline. Returns the number of bytes read.
size_t read_report(int fd, ChildReport& report, Clock::time_point deadline) {
    size_t got = 0;
    auto* bytes = reinterpret_cast<char*>(&report);
    while (got < sizeof report) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ssize_t k = ::read(fd, bytes + got, sizeof report - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;  // EOF: the child is gone
        got += static_cast<size_t>(k);
    }
    return got;
}

int wait_child(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

// Writes a whole small string to a /proc file in the child; errno on failure, 0 on success.
// Only async-signal-safe calls: the child of a fork.
int write_proc(const char* path, const char* text) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = ::write(fd, text, std::strlen(text));
    int err = n < 0 ? errno : 0;
    ::close(fd);
    return err;
}

std::string errno_text(int err) {
    return std::strerror(err);
}

}  // namespace

Result<ChildReport> run_probe_child(const std::function<ChildReport()>& body,
                                    std::chrono::milliseconds deadline) {
    auto [read_end, write_end] = LXBOX_TRY(make_pipe().context("a probe child"));
    pid_t pid = ::fork();
    if (pid < 0) return Error::last("fork a probe child");
    if (pid == 0) {
        ChildReport r = body();
        ssize_t n = ::write(write_end.get(), &r, sizeof r);
        ::_exit(n == static_cast<ssize_t>(sizeof r) ? 0 : 1);
    }
    write_end.reset();  // so EOF tells us the child is gone
    ChildReport report;
    const auto end = Clock::now() + deadline;
    size_t got = read_report(read_end.get(), report, end);
    // Killing a child that exited meanwhile is harmless: it stays a zombie until reaped below.
    bool overran = got < sizeof report && Clock::now() >= end;
    if (overran) ::kill(pid, SIGKILL);
    int status = wait_child(pid);
    if (got == sizeof report) return report;
    if (overran)
        return Error(ErrorKind::System, "the probe did not finish within " +
                                            std::to_string(deadline.count()) + " ms (killed)");
    if (WIFSIGNALED(status))
        return Error(ErrorKind::System,
                     std::string("the probe child died of ") + strsignal(WTERMSIG(status)));
    return Error(ErrorKind::System, "the probe child exited without a report");
}

ProbeResult probe_namespace(int flag, const std::string& flag_name, bool with_userns) {
    int flags = flag | (with_userns ? CLONE_NEWUSER : 0);
    std::string call =
        "unshare(" +
        (with_userns && flag != CLONE_NEWUSER ? "CLONE_NEWUSER|" + flag_name : flag_name) + ")";
    auto report = run_probe_child(
        [flags] {
            ChildReport r;
            if (::unshare(flags) != 0) r = {1, errno, 0};
            return r;
        },
        std::chrono::milliseconds(2000));
    spdlog::debug(
        "probe {}: {}", call,
        report ? (report->step ? errno_text(report->err) : "ok") : report.error().message);
    if (!report) return {false, call + ": " + report.error().message};
    if (report->step) return {false, call + ": " + errno_text(report->err)};
    return {true, call + " works"};
}

namespace {

// Stages of the overlay probe, reported as ChildReport::step.
enum OverlayStep {
    kUnshare = 1,
    kSetgroups,
    kUidMap,
    kGidMap,
    kMakePrivate,
    kTmpfs,
    kMkdir,
    kOverlay
};
const char* const kOverlayStepNames[] = {"",
                                         "unshare",
                                         "write /proc/self/setgroups",
                                         "write /proc/self/uid_map",
                                         "write /proc/self/gid_map",
                                         "make / private",
                                         "mount tmpfs",
                                         "mkdir lower/upper/work/merged",
                                         "mount overlay"};

// Everything the child needs, formatted before the fork: the child only makes syscalls.
struct OverlayPlan {
    bool in_userns = false;
    std::string uid_map, gid_map, base, lower, upper, work, merged, options;
};

ChildReport overlay_child(const OverlayPlan& p) {
    auto fail = [](int step) { return ChildReport{step, errno, 0}; };
    if (::unshare(CLONE_NEWNS | (p.in_userns ? CLONE_NEWUSER : 0)) != 0) return fail(kUnshare);
    if (p.in_userns) {
        // setgroups must be denied before an unprivileged process may write its gid_map.
        if (int e = write_proc("/proc/self/setgroups", "deny"); e != 0 && e != ENOENT)
            return {kSetgroups, e, 0};
        if (int e = write_proc("/proc/self/uid_map", p.uid_map.c_str())) return {kUidMap, e, 0};
        if (int e = write_proc("/proc/self/gid_map", p.gid_map.c_str())) return {kGidMap, e, 0};
    }
    // A root child's new mount namespace still shares propagation with the host's: make it
    // private first, so the probe's mounts can never show up outside the child.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return fail(kMakePrivate);
    if (::mount("tmpfs", p.base.c_str(), "tmpfs", 0, "size=1m,mode=0755") != 0) return fail(kTmpfs);
    for (const auto* dir : {&p.lower, &p.upper, &p.work, &p.merged})
        if (::mkdir(dir->c_str(), 0755) != 0) return fail(kMkdir);
    if (::mount("overlay", p.merged.c_str(), "overlay", 0, p.options.c_str()) != 0)
        return fail(kOverlay);
    return {};
}

}  // namespace

ProbeResult probe_overlay_mount(bool in_userns, const std::string& scratch_parent) {
    auto scratch = TempDir::make(scratch_parent, "lxbox-doctor-");
    if (!scratch) return {false, "overlay probe: " + scratch.error().message};
    OverlayPlan p;
    p.in_userns = in_userns;
    p.uid_map = "0 " + std::to_string(::geteuid()) + " 1\n";
    p.gid_map = "0 " + std::to_string(::getegid()) + " 1\n";
    p.base = scratch->path();
    p.lower = p.base + "/lower";
    p.upper = p.base + "/upper";
    p.work = p.base + "/work";
    p.merged = p.base + "/merged";
    p.options = "lowerdir=" + p.lower + ",upperdir=" + p.upper + ",workdir=" + p.work;
    auto report =
        run_probe_child([&p] { return overlay_child(p); }, std::chrono::milliseconds(2000));
    std::string where = in_userns ? "in a new user+mount namespace" : "in a new mount namespace";
    if (!report) return {false, "overlay probe " + where + ": " + report.error().message};
    if (report->step) {
        int step = report->step >= kUnshare && report->step <= kOverlay ? report->step : 0;
        return {false, std::string(kOverlayStepNames[step]) + " " + where + ": " +
                           errno_text(report->err)};
    }
    return {true, "overlay mounted on tmpfs " + where};
}

ProbeResult probe_seccomp_filter() {
    auto report = run_probe_child(
        [] {
            // no_new_privs lets an unprivileged process install a filter (as the runtime does).
            if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ChildReport{1, errno, 0};
            scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
            if (!ctx) return ChildReport{2, ENOMEM, 0};
            int rc = ::seccomp_load(ctx);
            ::seccomp_release(ctx);
            return rc == 0 ? ChildReport{} : ChildReport{3, -rc, 0};
        },
        std::chrono::milliseconds(2000));
    if (!report) return {false, "seccomp probe: " + report.error().message};
    static const char* const kSteps[] = {"", "prctl(PR_SET_NO_NEW_PRIVS)", "seccomp_init",
                                         "seccomp_load"};
    if (report->step >= 1 && report->step <= 3)
        return {false, std::string(kSteps[report->step]) + ": " + errno_text(report->err)};
    return {true, "a trivial filter installs (libseccomp, no_new_privs)"};
}

}  // namespace lxbox::detect::probes

#endif  // __linux__
