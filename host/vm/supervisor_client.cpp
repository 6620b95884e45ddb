#include "host/vm/supervisor_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::vm {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

namespace {

Result<ChannelClient> hello_to(ChannelClient client) {
    LXBOX_TRY(client.hello(Millis(10000)).context("the VM supervisor"));
    return client;
}

// The serving process: its own session (no terminal, no signal from the caller's), stdio to
// the log, the ready pipe as fd 3, lxbox exec'd afresh.
[[noreturn]] void exec_supervisor(const SupervisorStart& start, const VmPaths& paths, int ready_fd) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);  // not a session leader: can never get a terminal again
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log = ::open(paths.supervisor_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ::dup2(null, 0);
    ::dup2(log >= 0 ? log : null, 1);
    ::dup2(log >= 0 ? log : null, 2);
    ::dup2(ready_fd, 3);
    sys::close_range(4, ~0U, 0);
    const std::string arch = start.arch.empty() ? build_arch() : start.arch;
    const char* argv[] = {"lxbox",        "--root", start.root.c_str(), "--log-level", "info", "vm", "serve",
                          "--ready-fd",   "3",      "--arch",           arch.c_str(),  nullptr};
    ::execv(start.exe.c_str(), const_cast<char* const*>(argv));
    const std::string line = std::string("error exec ") + start.exe + ": " + ::strerror(errno) + "\n";
    (void)!::write(3, line.data(), line.size());
    ::_exit(127);
}

// Reads the supervisor's ready pipe until "ready" or "error ..." (notices are passed on).
Status wait_ready(int fd, const SupervisorStart& start, const VmPaths& paths) {
    const auto deadline = Clock::now() + start.timeout;
    std::string buf;
    for (;;) {
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            std::string line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            if (line == "ready") return {};
            if (line.starts_with("error ")) return Error(ErrorKind::System, line.substr(6));
            if (line.starts_with("notice ") && start.notice) start.notice(line.substr(7));
        }
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0)
            return Error(ErrorKind::System, "the VM did not come up within " +
                                                std::to_string(start.timeout.count() / 1000) + " s (see " +
                                                paths.supervisor_log + ")");
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, int(left)) <= 0) continue;
        char chunk[512];
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return Error(ErrorKind::System, "the VM supervisor died while starting (see " + paths.supervisor_log + ")");
        buf.append(chunk, static_cast<size_t>(n));
    }
}

Result<std::optional<ChannelClient>> try_connect(const VmPaths& paths) {
    auto c = ChannelClient::connect(paths.socket, Millis(0));
    if (!c) {
        // No socket, or one left by a supervisor that died: nobody serves.
        if (c.error().errno_value == ENOENT || c.error().errno_value == ECONNREFUSED) return std::optional<ChannelClient>{};
        return std::move(c).error();
    }
    return std::optional<ChannelClient>{LXBOX_TRY(hello_to(std::move(*c)))};
}

// Whether a supervisor holds the VM dir's lock (it does for its whole life). Probed with a
// shared lock taken and dropped at once; a supervisor starting in that instant retries (serve).
bool supervisor_alive(const VmPaths& paths) {
    UniqueFd fd(::open(paths.lock.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    return ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

// The running supervisor's connection, or nullopt once none runs. One that holds its lock
// without a socket is booting (the socket comes once its VM answered) or on its way out (the
// socket goes first, then the VM powers off, up to 20 s): waited for until deadline. Taking
// the missing socket for "not running" made a `vm stop` after a killed one return while QEMU
// still ran, and a launch then start a second supervisor that found the lock taken.
Result<std::optional<ChannelClient>> connect_or_none(const VmPaths& paths, Clock::time_point deadline) {
    for (;;) {
        if (auto c = LXBOX_TRY(try_connect(paths))) return c;
        if (!supervisor_alive(paths)) return std::optional<ChannelClient>{};
        if (Clock::now() >= deadline)
            return Error(ErrorKind::Busy, "the VM supervisor of " + paths.dir + " neither answers nor exits (see " +
                                              paths.supervisor_log + ")");
        std::this_thread::sleep_for(Millis(20));
    }
}

}  // namespace

Result<std::optional<ChannelClient>> connect_running(const std::string& vm_dir) {
    return try_connect(vm_paths(vm_dir));
}

Result<ChannelClient> connect_supervisor(const std::string& vm_dir, const SupervisorStart& start) {
    const VmPaths paths = vm_paths(vm_dir);
    if (auto c = LXBOX_TRY(try_connect(paths))) return std::move(*c);
    if (::mkdir(vm_dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::last("create " + vm_dir);
    // One client starts the supervisor; the others wait on this lock and then connect.
    auto lock = LXBOX_TRY(open_fd(paths.start_lock, O_RDWR | O_CREAT, 0600));
    if (::flock(lock.get(), LOCK_EX) != 0) return Error::last("lock " + paths.start_lock);
    if (auto c = LXBOX_TRY(connect_or_none(paths, Clock::now() + start.timeout))) return std::move(*c);
    if (start.prepare) LXBOX_TRY(start.prepare());
    auto ready = LXBOX_TRY(make_pipe());
    const pid_t child = ::fork();
    if (child < 0) return Error::last("fork the VM supervisor");
    if (child == 0) exec_supervisor(start, paths, ready.write.get());
    ready.write.reset();
    int status = 0;
    ::waitpid(child, &status, 0);  // the intermediate process exits at once
    LXBOX_TRY(wait_ready(ready.read.get(), start, paths).context("start the VM"));
    auto c = LXBOX_TRY(ChannelClient::connect(paths.socket, Millis(5000)).context("the VM supervisor"));
    return hello_to(std::move(c));
}

namespace {

// Sends a connection request the supervisor answers with its status.
Result<VmStatus> ask_status(const std::string& vm_dir, const proto::Frame& request) {
    auto c = LXBOX_TRY(connect_running(vm_dir));
    if (!c) return VmStatus{};
    LXBOX_TRY(c->send(request));
    auto frame = LXBOX_TRY(c->receive(Millis(10000)).context("the VM supervisor's status"));
    if (frame.type != proto::FrameType::Status)
        return Error(ErrorKind::Invalid, std::string("the VM supervisor answered status with ") + to_string(frame.type));
    auto j = LXBOX_TRY(proto::parse_payload(frame));
    try {
        return j.get<VmStatus>();
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Invalid, std::string("the VM supervisor's status: ") + e.what());
    }
}

}  // namespace

Result<VmStatus> query_status(const std::string& vm_dir) {
    return ask_status(vm_dir, proto::Frame{proto::FrameType::Status, proto::kConnectionSession, "{}"});
}

Result<VmStatus> detach_removed_disks(const std::string& vm_dir) {
    return ask_status(vm_dir, proto::make_frame(proto::kConnectionSession, proto::Detach{}));
}

Result<bool> stop_supervisor(const std::string& vm_dir, Millis timeout) {
    const VmPaths paths = vm_paths(vm_dir);
    const auto deadline = Clock::now() + timeout;
    auto c = LXBOX_TRY(connect_or_none(paths, deadline));
    if (!c) return false;
    LXBOX_TRY(c->send(proto::make_frame(proto::kConnectionSession, proto::Shutdown{})));
    // The supervisor closes every connection once the VM is off...
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
        if (left.count() <= 0) return Error(ErrorKind::System, "the VM did not stop within " +
                                                                   std::to_string(timeout.count() / 1000) + " s");
        auto f = c->receive(left);
        if (!f && c->closed()) break;
        if (!f && f.error().kind != ErrorKind::Refused) return std::move(f).error().context("stop the VM");
    }
    // ... and then exits, releasing its lock: after this, a launch starts a fresh one.
    while (supervisor_alive(paths)) {
        if (Clock::now() >= deadline) return Error(ErrorKind::System, "the VM supervisor did not exit");
        std::this_thread::sleep_for(Millis(10));
    }
    return true;
}

}  // namespace lxbox::vm
