#include "guest-agent/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "guest-agent/listeners.hpp"
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
    // A forwarded TCP connection (a Connect), not a process: stdin_fd and stdout_fd are the
    // socket (two fds, one socket), there is no runner pid to signal, and its end is an Exit 0.
    bool stream = false;
    // tty: the newest size a Resize asked for (0x0: none since the Run's), applied again
    // when the pty master arrives.
    linux_fx::WindowSize resize;
};

// How often the listening ports are looked at while something runs: a server is reachable from
// the host at most this long after it listens, and its forward goes as late after it stops.
constexpr auto kPortScanInterval = std::chrono::seconds(1);

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
    Status connect(const StartConnect& c);
    // Tells the host the guest's listening ports when they changed.
    Status scan_ports();
    // Whether ports may be listening: a container runs, or the host was told of some.
    bool scanning() const;

    int port_, signals_;
    AgentSession& session_;
    const PrepareMounts& prepare_;
    std::map<uint32_t, Process> processes_;
    std::vector<Listener> listeners_;               // as of the last scan
    std::map<uint64_t, uint32_t> inode_sessions_;   // a listening socket's session (0: unknown)
    std::chrono::steady_clock::time_point next_scan_{};
};

Status Server::apply(SessionActions actions) {
    LXBOX_TRY(send(actions.output));
    if (actions.set_clock_ns) {
        if (auto set = set_clock(*actions.set_clock_ns); !set) log_line(set.error().message);
    }
    for (auto& s : actions.start) LXBOX_TRY(start(s));
    for (auto& e : actions.exec) LXBOX_TRY(exec(e));
    for (auto& r : actions.remove) LXBOX_TRY(remove(r));
    for (const auto& c : actions.connect) LXBOX_TRY(connect(c));
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

Status Server::connect(const StartConnect& c) {
    auto address = connect_address(listeners_, c.port);
    if (!address) {
        listeners_ = read_listeners();
        address = connect_address(listeners_, c.port);
    }
    if (!address)
        return send(session_.on_failure(c.session, "nothing listens on port " + std::to_string(c.port) + " in the VM"));
    auto sock = connect_tcp(*address, c.port);
    if (!sock) return send(session_.on_failure(c.session, sock.error().message));
    UniqueFd reading(::fcntl(sock->get(), F_DUPFD_CLOEXEC, 0));
    if (!reading) return send(session_.on_failure(c.session, Error::last("dup a socket").message));
    Process& p = processes_[c.session];
    p.stream = true;
    p.runner.stdout_fd = std::move(reading);
    p.runner.stdin_fd = std::move(*sock);
    return {};
}

bool Server::scanning() const {
    const auto& sent = session_.ports_sent();
    return (sent && !sent->empty()) ||
           std::any_of(processes_.begin(), processes_.end(), [](const auto& e) { return !e.second.stream; });
}

Status Server::scan_ports() {
    next_scan_ = std::chrono::steady_clock::now() + kPortScanInterval;
    listeners_ = read_listeners();
    std::set<uint64_t> current, unknown;
    for (const auto& l : listeners_) {
        current.insert(l.inode);
        if (!inode_sessions_.count(l.inode)) unknown.insert(l.inode);
    }
    std::erase_if(inode_sessions_, [&](const auto& e) { return !current.count(e.first); });
    if (!unknown.empty()) {
        // A new socket: whose container is it (the host tells that session's client when the
        // port cannot be forwarded)?
        std::map<pid_t, uint32_t> roots;
        for (const auto& [id, p] : processes_)
            if (!p.stream && p.runner.pid > 0) roots[p.runner.pid] = id;
        const auto found = socket_sessions(unknown, roots);
        for (uint64_t inode : unknown) {
            auto it = found.find(inode);
            inode_sessions_[inode] = it == found.end() ? 0 : it->second;
        }
    }
    return send(session_.on_ports(listening_ports(listeners_, inode_sessions_)));
}

Status Server::act(const ProcessAction& a) {
    auto it = processes_.find(a.session);
    if (it == processes_.end()) return {};
    Process& p = it->second;
    if (p.stream) {
        // A connection has no process to signal or resize; the host giving up on it closes it.
        if (a.kind != ProcessAction::Kill && a.kind != ProcessAction::Stdin && a.kind != ProcessAction::CloseStdin)
            return {};
        if (a.kind == ProcessAction::Kill) {
            p.runner.stdin_fd.reset();
            p.runner.stdout_fd.reset();
            return finish_if_done(a.session);
        }
    }
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
    if (p.close_stdin && p.pending_stdin.empty()) {
        // The host's side half-closed: so does ours (the socket stays open for reading).
        if (p.stream && p.runner.stdin_fd) ::shutdown(p.runner.stdin_fd.get(), SHUT_WR);
        p.runner.stdin_fd.reset();
    }
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
    if (p.stream) {
        // The guest's side closed (or reset) the connection: the host closes its side too.
        processes_.erase(id);
        return send(session_.on_exit(id, 0));
    }
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
    for (auto& [id, p] : processes_)
        if (!p.stream && p.runner.pid > 0) ::kill(p.runner.pid, SIGKILL);
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
        int timeout = -1;
        if (connected && scanning()) {
            const auto left = next_scan_ - std::chrono::steady_clock::now();
            timeout = int(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
        }
        if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return Error::last("poll");
        if (fds[1].revents & POLLIN) drain_signals(signals_);
        if (connected && scanning() && std::chrono::steady_clock::now() >= next_scan_) LXBOX_TRY(scan_ports());
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
