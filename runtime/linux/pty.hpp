// Terminals: the container's pty (opened from its own devpts instance, so the slave belongs to
// the container), fd passing over a unix socket, and the host terminal's raw mode.
#pragma once

#include <termios.h>

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"

namespace lxbox::linux_fx {

struct PtyPair {
    UniqueFd master;
    std::string slave_path;  // /dev/pts/N inside the container
};

// Opens /dev/pts/ptmx of the current mount namespace and unlocks its slave.
Result<PtyPair> open_pty();
// Makes slave_path the calling process's controlling terminal and its fds 0-2 (after setsid,
// unless it leads a session already).
Status become_tty_session(const std::string& slave_path);

// SCM_RIGHTS over a unix socket.
Status send_fd(int sock, int fd);
Result<UniqueFd> recv_fd(int sock);

// The host terminal in raw mode for as long as this lives; restored on every exit path
// (return, error, exception) by the destructor.
class RawTerminal {
public:
    static Result<RawTerminal> enter(int fd);
    RawTerminal() = default;
    RawTerminal(RawTerminal&& o) noexcept;
    RawTerminal& operator=(RawTerminal&&) = delete;
    ~RawTerminal();

private:
    int fd_ = -1;
    struct termios saved_ {};
};

// Copies the window size of a terminal to another (SIGWINCH propagation).
void copy_window_size(int from, int to);

// A terminal's size in character cells.
struct WindowSize {
    uint16_t rows = 0, cols = 0;
};
// The size of the terminal on fd (TIOCGWINSZ); nullopt when fd is not a terminal.
std::optional<WindowSize> window_size(int fd);
// Sets the size of a pty through its master (TIOCSWINSZ): its foreground processes get SIGWINCH.
Status set_window_size(int fd, WindowSize size);

}  // namespace lxbox::linux_fx
