#include "guest-agent/server.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "guest-agent/pid1.hpp"
#include "runtime/base/unique_fd.hpp"

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

Status apply(const SessionActions& actions, int port_fd) {
    if (!actions.output.empty())
        LXBOX_TRY_CTX(write_all(port_fd, actions.output), "write to the port");
    if (actions.set_clock_ns) {
        if (auto set = set_clock(*actions.set_clock_ns); !set) log_line(set.error().message);
    }
    if (actions.power_off) {
        log_line("shutdown requested: syncing and powering off");
        return power_off();
    }
    return {};
}

}  // namespace

Status serve_port(int port_fd, int signal_fd, AgentSession& session) {
    static char buf[1 << 16];
    bool connected = false;
    for (;;) {
        pollfd fds[2] = {{port_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno != EINTR) return Error::last("poll");
        if (fds[1].revents & POLLIN) drain_signals(signal_fd);
        if (fds[0].revents & POLLIN) {
            ssize_t n = ::read(port_fd, buf, sizeof buf);
            if (n < 0 && errno != EINTR && errno != EAGAIN) return Error::last("read the port");
            if (n > 0) {
                connected = true;
                LXBOX_TRY(apply(session.on_bytes(std::string_view(buf, size_t(n))), port_fd));
                continue;
            }
        }
        if (fds[0].revents & (POLLHUP | POLLERR)) {
            // No host on the other end. The port reports POLLHUP until one connects and has no
            // event for "connected", so look again every 10 ms (still answering SIGCHLD).
            if (connected) session.on_disconnect();
            connected = false;
            pollfd sig{signal_fd, POLLIN, 0};
            if (::poll(&sig, 1, 10) > 0) drain_signals(signal_fd);
        }
    }
}

}  // namespace lxbox::agent
