// Container::wait: the parent's loop while the container runs. Without a tty the container
// owns lxbox's fds 0-2 directly and this loop only forwards signals; with a tty it also copies
// bytes between the host terminal and the container's pty master.
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/base/json_number.hpp"
#include "runtime/base/log.hpp"
#include "runtime/container/container.hpp"
#include "runtime/container/impl.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::runtime {

namespace fx = lxbox::linux_fx;

namespace {

// Reads the error pipe to EOF: empty means the command was exec'd.
Result<std::optional<std::pair<int, Error>>> read_child_report(int fd) {
    auto text = LXBOX_TRY(read_all(fd));
    if (text.empty()) return std::optional<std::pair<int, Error>>{};
    try {
        auto j = nlohmann::json::parse(text);
        return std::optional<std::pair<int, Error>>{{json_whole<int>(j.at("exit_code"), "exit_code"), j.at("error").get<Error>()}};
    } catch (const nlohmann::json::exception& e) {
        return Error(ErrorKind::Internal, std::string("unreadable report from the container: ") + e.what());
    }
}

// Copies what is available from one fd to another; false at EOF or error (EIO: slave closed).
bool pump(int from, int to) {
    char buf[16384];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    return write_all(to, buf, static_cast<size_t>(n)).ok();
}

struct Relay {
    int master = -1;  // -1 without a tty
    bool stdin_open = true;
    bool master_open = true;
};

// The container has a session of its own, so the host's terminal signals lxbox alone (its
// foreground process group): what it sends is passed on, and the container's init hands it to
// the command's group (init_loop). A stop (Ctrl-Z) stops the container first, then lxbox, for
// the shell's job control; the continue (fg, bg) follows the same way.
void handle_signals(int sigfd, int pidfd, const Relay& relay) {
    struct signalfd_siginfo si;
    while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGWINCH && relay.master >= 0) {
            fx::copy_window_size(0, relay.master);
            continue;
        }
        spdlog::debug("forwarding signal {} to the container", si.ssi_signo);
        sys::pidfd_send_signal(pidfd, static_cast<int>(si.ssi_signo));
        if (si.ssi_signo == SIGTSTP) ::raise(SIGSTOP);
    }
}

Result<int> relay_until_exit(int pidfd, Relay relay) {
    auto sigfd = LXBOX_TRY(fx::make_signal_fd(waited_signals()));
    for (;;) {
        struct pollfd fds[4] = {{pidfd, POLLIN, 0}, {sigfd.get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
        if (relay.master >= 0) {
            fds[2].fd = relay.stdin_open ? 0 : -1;
            fds[3].fd = relay.master_open ? relay.master : -1;
        }
        if (::poll(fds, 4, -1) < 0) {
            if (errno == EINTR) continue;
            return Error::last("poll");
        }
        if (fds[1].revents) handle_signals(sigfd.get(), pidfd, relay);
        if (fds[2].revents && !pump(0, relay.master)) relay.stdin_open = false;
        if (fds[3].revents && !pump(relay.master, 1)) relay.master_open = false;
        if (fds[0].revents) {
            // The command is gone: flush what it wrote last before reporting its status.
            while (relay.master >= 0 && relay.master_open && pump(relay.master, 1)) {
                struct pollfd p{relay.master, POLLIN, 0};
                if (::poll(&p, 1, 0) <= 0) break;
            }
            return fx::wait_exit(pidfd);
        }
    }
}

}  // namespace

sigset_t waited_signals() {
    sigset_t set = fx::forwarded_signals();
    sigaddset(&set, SIGTSTP);
    sigaddset(&set, SIGCONT);
    return set;
}

Result<Outcome> Container::wait() {
    std::optional<fx::RawTerminal> raw;
    UniqueFd master;
    if (tty_ && pty_master_) {
        master = std::move(pty_master_);
        if (::isatty(0)) raw.emplace(LXBOX_TRY(fx::RawTerminal::enter(0)));
    } else if (tty_ && !pty_received_) {
        auto got = receive_pty();
        if (got) {
            master = std::move(*got);
            if (::isatty(0)) {
                fx::copy_window_size(0, master.get());
                raw.emplace(LXBOX_TRY(fx::RawTerminal::enter(0)));
            }
            release_pty_command();
        }
    }
    // wait_started() has read the report already when the pipe is gone.
    auto report = error_pipe_ ? read_child_report(error_pipe_.get())
                              : Result<std::optional<std::pair<int, Error>>>(std::optional<std::pair<int, Error>>{});
    error_pipe_.reset();
    Relay relay;
    relay.master = master.get();
    auto code = relay_until_exit(pidfd_.get(), relay);
    reaped_ = code.ok();
    if (!report) return std::move(report).error();
    if (*report) {
        auto& [exit_code, error] = **report;
        if (exit_code == 126 || exit_code == 127) return Outcome{exit_code, std::move(error)};
        return std::move(error);
    }
    if (!code) return std::move(code).error();
    Outcome outcome{*code, std::nullopt};
    outcome.oom_killed = impl_ && impl_->cgroup && impl_->cgroup->oom_killed();
    return outcome;
}

}  // namespace lxbox::runtime
