#include "guest-agent/server.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "guest-agent/pid1.hpp"
#include "guest-agent/runner.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/pty.hpp"

namespace lxbox::agent {

void log_line(const std::string& message) {
    std::fprintf(stderr, "lxbox-agent: %s\n", message.c_str());
}

namespace {

void drain_signals(int signal_fd) {
    signalfd_siginfo info;
    while (::read(signal_fd, &info, sizeof info) == sizeof info) {
    }
    reap_children();
}

// A session's running container, as the serving loop sees it.
struct Process {
    Runner runner;
    std::string pending_stdin;  // arrived from the host, not yet taken by the process
    bool close_stdin = false;   // the host's stdin ended: close once pending is written
    std::string report;         // the runner's report lines, read to EOF
    bool removal = false;       // a Remove's runner: a failure is an Error, not stderr + Exit
    // tty: the newest size a Resize asked for (0x0: none since the Run's), applied again
    // when the pty master arrives.
    linux_fx::WindowSize resize;
};

// The kernel sends SIGWINCH to the pty's foreground processes. Without a pty (yet: the
// container is starting; or at all: no tty) there is nothing to size: the newest size waits.
void apply_size(Process& p) {
    if (!p.runner.pty_master || p.resize.rows == 0) return;
    if (auto st = linux_fx::set_window_size(p.runner.pty_master.get(), p.resize); !st) log_line(st.error().message);
}

class Server {
public:
    Server(int port_fd, int signal_fd, AgentSession& session, const PrepareMounts& prepare)
        : port_(port_fd), signals_(signal_fd), session_(session), prepare_(prepare) {}
    Status run();

private:
    Status send(const std::string& bytes) {
        if (bytes.empty()) return {};
        return write_all(port_, bytes).context("write to the port");
    }
    Status apply(SessionActions actions);
    Status start(StartRun& start);
    Status exec(StartExec& exec);
    Status remove(StartRemove& remove);
    Status act(const ProcessAction& a);
    Status write_stdin(uint32_t id, Process& p);
    Status take_pty(uint32_t id, Process& p);
    Status pump_output(uint32_t id, int& fd, proto::FrameType type);
    Status finish_if_done(uint32_t id);
    void drop_all();

    int port_, signals_;
    AgentSession& session_;
    const PrepareMounts& prepare_;
    std::map<uint32_t, Process> processes_;
};

Status Server::apply(SessionActions actions) {
    LXBOX_TRY(send(actions.output));
    if (actions.set_clock_ns) {
        if (auto set = set_clock(*actions.set_clock_ns); !set) log_line(set.error().message);
    }
    for (auto& s : actions.start) LXBOX_TRY(start(s));
    for (auto& e : actions.exec) LXBOX_TRY(exec(e));
    for (auto& r : actions.remove) LXBOX_TRY(remove(r));
    for (auto& d : actions.detach) {
        if (auto done = detach_disk(d.serial, d.target); !done) {
            d.error = done.error().message;
            d.busy = done.error().kind == ErrorKind::Busy;
        }
        log_line("detach " + d.serial + ": " + (d.error.empty() ? "done" : d.error));
        LXBOX_TRY(send(session_.on_detached(d)));
    }
    for (const auto& a : actions.process) LXBOX_TRY(act(a));
    if (actions.power_off) {
        log_line("shutdown requested: syncing and powering off");
        return power_off();
    }
    return {};
}

Status Server::start(StartRun& s) {
    // The disk and overlay modules load in the background from boot: a container needs them.
    prepare_(s.run.mounts);
    auto runner = start_runner(s.run);
    if (!runner) return send(session_.on_failure(s.session, runner.error().message));
    processes_[s.session].runner = std::move(*runner);
    return {};
}

Status Server::exec(StartExec& e) {
    // The container's runner says, once the container is up, how to join it.
    const auto container = processes_.find(e.container_session);
    const auto target = container == processes_.end() ? std::nullopt : parse_started(container->second.report);
    if (!target)
        return send(session_.on_failure(e.session, "the container is still starting or already stopping: try again"));
    auto runner = start_joiner(e.exec, *target);
    if (!runner) return send(session_.on_failure(e.session, runner.error().message));
    processes_[e.session].runner = std::move(*runner);
    return {};
}

Status Server::remove(StartRemove& r) {
    prepare_(r.remove.mounts);
    auto runner = start_remover(r.remove);
    if (!runner) return send(session_.on_failure(r.session, runner.error().message));
    runner->stdin_fd.reset();
    processes_[r.session].runner = std::move(*runner);
    processes_[r.session].removal = true;
    return {};
}

Status Server::act(const ProcessAction& a) {
    auto it = processes_.find(a.session);
    if (it == processes_.end()) return {};
    Process& p = it->second;
    switch (a.kind) {
        case ProcessAction::Stdin:
            p.pending_stdin += a.data;
            return write_stdin(a.session, p);
        case ProcessAction::CloseStdin:
            p.close_stdin = true;
            return write_stdin(a.session, p);
        case ProcessAction::Signal:
            // The runner's wait loop forwards it to the container, as lxbox does natively.
            ::kill(p.runner.pid, a.signal);
            return {};
        case ProcessAction::Kill:
            // The container's init dies with its runner (PDEATHSIG); the session's Exit that
            // follows goes to a host that no longer listens, and is dropped there.
            ::kill(p.runner.pid, SIGKILL);
            return {};
        case ProcessAction::Resize:
            p.resize = {a.rows, a.cols};
            apply_size(p);
            return {};
    }
    return {};
}

Status Server::take_pty(uint32_t id, Process& p) {
    if (auto st = receive_pty(p.runner); !st) {
        // Nothing can relay the container's terminal: end it rather than leave it unread.
        log_line(st.error().context("session " + std::to_string(id)).message);
        ::kill(p.runner.pid, SIGKILL);
        return {};
    }
    apply_size(p);
    // What the host typed while the container was starting.
    return write_stdin(id, p);
}

Status Server::write_stdin(uint32_t id, Process& p) {
    size_t written = 0;
    while (p.runner.stdin_fd && written < p.pending_stdin.size()) {
        ssize_t n = ::write(p.runner.stdin_fd.get(), p.pending_stdin.data() + written, p.pending_stdin.size() - written);
        if (n > 0) {
            written += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        // The process closed its stdin: what the host still sends is dropped (but credited).
        p.runner.stdin_fd.reset();
        written = p.pending_stdin.size();
    }
    p.pending_stdin.erase(0, written);
    LXBOX_TRY(send(session_.on_stdin_consumed(id, written)));
    if (p.close_stdin && p.pending_stdin.empty()) p.runner.stdin_fd.reset();
    return {};
}

// Reads what the process wrote straight behind room for its frame's header and writes header
// and bytes with one call: no copy of the data in the agent (under TCG every copy costs).
Status Server::pump_output(uint32_t id, int& fd, proto::FrameType type) {
    static char buf[proto::kHeaderSize + (1 << 16)];
    const size_t room = session_.sendable(id, sizeof buf - proto::kHeaderSize);
    if (room == 0) return {};
    ssize_t n = ::read(fd, buf + proto::kHeaderSize, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return {};
    if (n <= 0) {
        fd = -1;  // EOF: every writer in the container is gone
        return {};
    }
    const std::string header = session_.output_header(id, type, static_cast<size_t>(n));
    std::memcpy(buf, header.data(), proto::kHeaderSize);
    return write_all(port_, buf, proto::kHeaderSize + static_cast<size_t>(n)).context("write to the port");
}

Status Server::finish_if_done(uint32_t id) {
    Process& p = processes_.at(id);
    if (p.runner.stdout_fd || p.runner.stderr_fd || p.runner.report_fd || p.runner.pty_sock) return {};
    const RunReport r = parse_run_report(p.report);
    const bool removal = p.removal;
    processes_.erase(id);
    if (removal && r.code != 0) return send(session_.on_failure(id, r.message));
    if (!r.message.empty())
        LXBOX_TRY(send(session_.on_output(id, proto::FrameType::Stderr, "lxbox: " + r.message + "\n")));
    return send(session_.on_exit(id, r.code));
}

void Server::drop_all() {
    // A session does not outlive its connection: its output would have no reader.
    for (auto& [id, p] : processes_) ::kill(p.runner.pid, SIGKILL);
    processes_.clear();
}

Status Server::run() {
    static char buf[1 << 16];
    bool connected = false;
    for (;;) {
        // port, signals, then per process: stdout, stderr, report, stdin (when data waits) and
        // the pty master's way in (tty, until it arrived).
        constexpr size_t kPerProcess = 5;
        std::vector<pollfd> fds{{port_, POLLIN, 0}, {signals_, POLLIN, 0}};
        std::vector<uint32_t> ids;
        for (auto& [id, p] : processes_) {
            const bool room = session_.sendable(id, 1) > 0;
            fds.push_back({room ? p.runner.stdout_fd.get() : -1, POLLIN, 0});
            fds.push_back({room ? p.runner.stderr_fd.get() : -1, POLLIN, 0});
            fds.push_back({p.runner.report_fd.get(), POLLIN, 0});
            fds.push_back({p.pending_stdin.empty() ? -1 : p.runner.stdin_fd.get(), POLLOUT, 0});
            fds.push_back({p.runner.pty_sock.get(), POLLIN, 0});
            ids.push_back(id);
        }
        if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return Error::last("poll");
        if (fds[1].revents & POLLIN) drain_signals(signals_);
        for (size_t i = 0; i < ids.size(); ++i) {
            Process& p = processes_.at(ids[i]);
            const pollfd* f = &fds[2 + kPerProcess * i];
            // Before the report: a runner sends the master before it can report.
            if (f[4].revents) LXBOX_TRY(take_pty(ids[i], p));
            if (f[0].revents) {
                int fd = p.runner.stdout_fd.get();
                LXBOX_TRY(pump_output(ids[i], fd, proto::FrameType::Stdout));
                if (fd < 0) p.runner.stdout_fd.reset();
            }
            if (f[1].revents) {
                int fd = p.runner.stderr_fd.get();
                LXBOX_TRY(pump_output(ids[i], fd, proto::FrameType::Stderr));
                if (fd < 0) p.runner.stderr_fd.reset();
            }
            if (f[2].revents) {
                ssize_t n = ::read(p.runner.report_fd.get(), buf, sizeof buf);
                if (n > 0) p.report.append(buf, static_cast<size_t>(n));
                if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) p.runner.report_fd.reset();
            }
            if (f[3].revents) LXBOX_TRY(write_stdin(ids[i], p));
            LXBOX_TRY(finish_if_done(ids[i]));
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = ::read(port_, buf, sizeof buf);
            if (n < 0 && errno != EINTR && errno != EAGAIN) return Error::last("read the port");
            if (n > 0) {
                connected = true;
                LXBOX_TRY(apply(session_.on_bytes(std::string_view(buf, size_t(n)))));
                continue;
            }
        }
        if (fds[0].revents & (POLLHUP | POLLERR)) {
            // No host on the other end. The port reports POLLHUP until one connects and has no
            // event for "connected", so look again every 10 ms (still answering SIGCHLD).
            if (connected) {
                session_.on_disconnect();
                drop_all();
            }
            connected = false;
            pollfd sig{signals_, POLLIN, 0};
            if (::poll(&sig, 1, 10) > 0) drain_signals(signals_);
        }
    }
}

}  // namespace

Status serve_port(int port_fd, int signal_fd, AgentSession& session, const PrepareMounts& prepare) {
    Server server(port_fd, signal_fd, session, prepare);
    return server.run();
}

}  // namespace lxbox::agent
