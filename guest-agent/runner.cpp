#include "guest-agent/runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <functional>

#include "guest-agent/pid1.hpp"
#include "runtime/container/container.hpp"
#include "runtime/container/quiet_join.hpp"
#include "runtime/linux/mounts.hpp"
#include "runtime/linux/exec_stub.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/syscalls.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/spec/spec.hpp"

namespace lxbox::agent {

// The started line's fields, written by the runner and read by parse_started: one list for both.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ContainerStarted, pid, start_time, namespaces, cgroup_paths)

namespace {

// The runner's fds beside its stdio: its report, and (tty) the socket to hand the pty over.
constexpr int kReportFd = 3;
constexpr int kPtySockFd = 4;

bool is_mount_point(const std::string& path) {
    struct stat self, parent;
    if (::stat(path.c_str(), &self) != 0) return false;
    if (::stat((path + "/..").c_str(), &parent) != 0) return false;
    return self.st_dev != parent.st_dev;
}

// The disks a session needs, mounted once for every container that needs them.
Status mount_disks(const std::vector<proto::GuestMount>& mounts) {
    for (const auto& m : mounts) {
        if (is_mount_point(m.target)) continue;
        LXBOX_TRY(linux_fx::make_dirs(m.target, 0755));
        // A 9p share is named by its mount tag; a disk by its serial or its name under /dev.
        const bool share = m.fstype == "9p";
        const std::string dev = share                ? m.device
                                : m.serial.empty() ? "/dev/" + m.device
                                                   : LXBOX_TRY(wait_for_disk(m.serial, std::chrono::seconds(10)));
        const unsigned long flags = MS_NOSUID | MS_NODEV | (m.readonly ? MS_RDONLY : 0);
        // The host made writable disks sparse with lazy inode tables: zeroing them would only
        // fill the host's file with zeros.
        const char* data = share                                  ? "trans=virtio,version=9p2000.L,msize=512000,cache=mmap"
                           : !m.readonly && m.fstype == "ext4" ? "noinit_itable"
                                                               : nullptr;
        if (::mount(dev.c_str(), m.target.c_str(), m.fstype.c_str(), flags, data) != 0 && errno != EBUSY)
            return Error::last("mount " + dev + " (" + m.fstype + ") on " + m.target);
    }
    return {};
}

// Waits for the container; with a tty, first hands its pty master to the agent, which relays
// it over the channel (wait() then relays nothing). No master means the container failed
// before its command had a pty: wait() says why.
Result<runtime::Outcome> wait_container(runtime::Container& c, bool tty, uint16_t rows, uint16_t cols) {
    if (tty) {
        if (auto master = c.receive_pty_master(rows, cols))
            LXBOX_TRY(linux_fx::send_fd(kPtySockFd, master->get()).context("hand the pty to the agent"));
        ::close(kPtySockFd);
    }
    return c.wait();
}

RunReport report_of(const runtime::Outcome& outcome) {
    RunReport r{outcome.exit_code, ""};
    if (outcome.exec_error) r.message = outcome.exec_error->message;
    if (outcome.oom_killed) r.message = runtime::oom_notice(outcome.exit_code, true);
    return r;
}

// What joins the container the started line describes (an Exec's process, the boot command).
runtime::JoinSpec join_spec(const ContainerStarted& target) {
    runtime::JoinSpec join;
    join.pid = target.pid;
    join.start_time = target.start_time;
    join.namespaces = target.namespaces;
    join.cgroup_paths = target.cgroup_paths;
    join.cache_dir = kGuestCacheDir;
    return join;
}

// The Run's boot.command in its held container (spec.hold_command), as launch runs it
// natively, then the command let go: what it started is up when the command runs. Its failure
// is one warning line on the session's stderr; the container goes on.
Status boot_then_release(runtime::Container& c, const ContainerStarted& started, const runtime::ContainerSpec& spec,
                         const std::string& command) {
    LXBOX_TRY(c.wait_held());
    runtime::JoinSpec j = join_spec(started);
    j.process.security = spec.process.security;
    if (auto booted = runtime::run_boot_command(std::move(j), command); !booted)
        (void)write_all(2, "lxbox: warning: boot.command: " + booted.error().message + "\n");
    return c.release();
}

RunReport run_container(const proto::Run& run) {
    runtime::ContainerSpec spec;
    try {
        spec = run.spec.get<runtime::ContainerSpec>();
    } catch (const nlohmann::json::exception& e) {
        return {125, std::string("bad container spec: ") + e.what()};
    }
    spec.process.tty = run.tty;  // the Run's word: the agent relays the pty it asks for
    spec.hold_command = !run.boot_command.empty();
    if (auto st = mount_disks(run.mounts); !st) return {125, st.error().message};
    if (auto st = linux_fx::make_dirs(spec.container_dir, 0700); !st) return {125, st.error().message};
    // A kept container's layers on the containers disk, made on its first run (as the host's
    // store makes them natively).
    for (const char* sub : {"/upper", "/work", "/rootfs"}) {
        if (spec.ephemeral) break;
        if (auto st = linux_fx::make_dirs(spec.container_dir + sub, 0755); !st) return {125, st.error().message};
    }
    auto c = runtime::Container::start(spec);
    if (!c) {
        if (spec.ephemeral) ::rmdir(spec.container_dir.c_str());
        return {125, c.error().context("launch " + spec.name).message};
    }
    // The first line of the report: what an Exec into this container joins.
    const ContainerStarted started{c->pid(), linux_fx::process_start_time(c->pid()).value_or(0), c->namespaces(),
                                   c->cgroup_paths()};
    (void)write_all(kReportFd, nlohmann::json{{"started", started}}.dump() + "\n");
    // A held container that did not come up: its wait says why.
    if (spec.hold_command) (void)boot_then_release(*c, started, spec, run.boot_command);
    auto outcome = wait_container(*c, run.tty, run.rows, run.cols);
    // A throwaway container's changes lived in its tmpfs; its mount point goes with it.
    if (spec.ephemeral) ::rmdir(spec.container_dir.c_str());
    if (!outcome) return {125, outcome.error().context("launch " + spec.name).message};
    return report_of(*outcome);
}

RunReport join_container(const proto::Exec& exec, const ContainerStarted& target) {
    runtime::JoinSpec join = join_spec(target);
    try {
        join.process = exec.process.get<runtime::ProcessSpec>();
    } catch (const nlohmann::json::exception& e) {
        return {125, std::string("bad process spec: ") + e.what()};
    }
    join.process.tty = exec.tty;  // as for a Run: the agent relays the pty the Exec asks for
    auto c = runtime::Container::join(join);
    if (!c) return {125, c.error().context("exec").message};
    auto outcome = wait_container(*c, exec.tty, exec.rows, exec.cols);
    if (!outcome) return {125, outcome.error().context("exec").message};
    return report_of(*outcome);
}

RunReport remove_container(const proto::Remove& remove) {
    if (auto st = mount_disks(remove.mounts); !st) return {125, st.error().message};
    if (auto st = remove_tree(remove.container_dir); !st) return {125, st.error().message};
    return {0, ""};
}

// The runner's ends of its fds to the agent, in the order of the fd numbers they get in the
// runner: 0-2, kReportFd, kPtySockFd (-1 without a tty).
struct RunnerEnds {
    int fds[5];
};

[[noreturn]] void runner_main(const std::function<RunReport()>& job, const RunnerEnds& ends) {
    // The agent ignores and blocks signals as PID 1 must; the container's wait loop forwards
    // TERM, INT, ... from here, so they must arrive: default actions back, and the forwarded
    // ones blocked from the start, so one that comes while the container is still being made
    // waits for the wait loop instead of killing the runner.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
        if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    const sigset_t forwarded = linux_fx::forwarded_signals();
    ::sigprocmask(SIG_SETMASK, &forwarded, nullptr);
    // The agent dying (a crash the serving loop restarts from) must not leave containers.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Every end above the targets first: one may sit on another's target number.
    int moved[5];
    for (int i = 0; i < 5; ++i) moved[i] = ends.fds[i] >= 0 ? ::fcntl(ends.fds[i], F_DUPFD, 10) : -1;
    for (int target = 0; target < 5; ++target)
        if (moved[target] >= 0) ::dup2(moved[target], target);
    // All others but the sealed exec stub the agent made while it booted (Container::warm_cache).
    const unsigned first = moved[kPtySockFd] >= 0 ? kPtySockFd + 1 : kPtySockFd;
    auto stub = linux_fx::exec_stub_fd();
    if (stub && static_cast<unsigned>(*stub) >= first) {
        if (static_cast<unsigned>(*stub) > first) sys::close_range(first, static_cast<unsigned>(*stub) - 1, 0);
        sys::close_range(static_cast<unsigned>(*stub) + 1, ~0U, 0);
    } else {
        sys::close_range(first, ~0U, 0);
    }
    const RunReport r = job();
    const std::string line = nlohmann::json{{"code", r.code}, {"message", r.message}}.dump() + "\n";
    (void)write_all(kReportFd, line);
    ::_exit(0);
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// With a tty the container's stdio is its pty: the runner's own stdin and stdout are idle
// (/dev/null), and its master comes back over a socket.
Result<Runner> fork_runner(const std::function<RunReport()>& job, bool tty) {
    Pipe in, out;
    UniqueFd null, pty_agent, pty_runner;
    if (tty) {
        null = LXBOX_TRY(open_fd("/dev/null", O_RDWR));
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return Error::last("socketpair");
        pty_agent.reset(pair[0]);
        pty_runner.reset(pair[1]);
    } else {
        in = LXBOX_TRY(make_pipe());
        out = LXBOX_TRY(make_pipe());
    }
    auto err = LXBOX_TRY(make_pipe());
    auto report = LXBOX_TRY(make_pipe());
    // The agent ignores TERM, INT, ... and the child inherits that until runner_main resets it:
    // a signal the host forwards right after the fork would be discarded. Blocked across the
    // fork, it waits in the child instead (a blocked signal is never discarded as ignored).
    // (The child leaves this scope only through runner_main, which never returns: the block's
    // end would unblock them in it too.)
    pid_t pid;
    {
        linux_fx::SignalBlock across_fork(linux_fx::forwarded_signals());
        pid = ::fork();
        if (pid == 0)
            runner_main(job, {{tty ? null.get() : in.read.get(), tty ? null.get() : out.write.get(), err.write.get(),
                               report.write.get(), pty_runner.get()}});
    }
    if (pid < 0) return Error::last("fork the runner");
    Runner r;
    r.pid = pid;
    r.stdin_fd = std::move(in.write);
    r.stdout_fd = std::move(out.read);
    r.stderr_fd = std::move(err.read);
    r.report_fd = std::move(report.read);
    r.pty_sock = std::move(pty_agent);
    for (int fd : {r.stdin_fd.get(), r.stdout_fd.get(), r.stderr_fd.get()})
        if (fd >= 0) set_nonblocking(fd);
    return r;
}

Result<UniqueFd> dup_fd(int fd) {
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return Error::last("dup the pty master");
    return copy;
}

}  // namespace

Result<Runner> start_runner(const proto::Run& run) {
    return fork_runner([&run] { return run_container(run); }, run.tty);
}

Result<Runner> start_joiner(const proto::Exec& exec, const ContainerStarted& target) {
    return fork_runner([&exec, &target] { return join_container(exec, target); }, exec.tty);
}

Result<Runner> start_remover(const proto::Remove& remove) {
    return fork_runner([&remove] { return remove_container(remove); }, false);
}

Status receive_pty(Runner& r) {
    auto master = linux_fx::recv_fd(r.pty_sock.get());
    r.pty_sock.reset();
    // None: the container failed before its command had a pty, as the runner's report says.
    if (!master) return {};
    set_nonblocking(master->get());
    // Two fds for the one master: the session's stdin and stdout end (and close) separately.
    r.stdout_fd = LXBOX_TRY(dup_fd(master->get()));
    r.stdin_fd = LXBOX_TRY(dup_fd(master->get()));
    r.pty_master = std::move(*master);
    return {};
}

namespace {

// The report's lines that are JSON objects, in order (a torn last line is not one).
std::vector<nlohmann::json> report_lines(const std::string& text) {
    std::vector<nlohmann::json> lines;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        auto j = nlohmann::json::parse(text.substr(pos, end - pos), nullptr, false);
        if (!j.is_discarded() && j.is_object()) lines.push_back(std::move(j));
        pos = end + 1;
    }
    return lines;
}

}  // namespace

RunReport parse_run_report(const std::string& text) {
    for (const auto& j : report_lines(text))
        if (j.contains("code") && j["code"].is_number_integer()) return {j["code"].get<int>(), j.value("message", "")};
    return {125, "the container's runner died without a report"};
}

std::optional<ContainerStarted> parse_started(const std::string& report) {
    for (const auto& line : report_lines(report)) {
        const auto it = line.find("started");
        if (it == line.end() || !it->is_object()) continue;
        try {
            const auto s = it->get<ContainerStarted>();
            if (s.pid <= 0) return std::nullopt;
            return s;
        } catch (const nlohmann::json::exception&) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace lxbox::agent
