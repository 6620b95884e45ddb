#include "tests/common/test_terminal.hpp"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>

namespace lxbox::test {

TestTerminal::TestTerminal(uint16_t rows, uint16_t cols, const std::function<int()>& body) {
    struct winsize ws {rows, cols, 0, 0};
    pid_ = ::forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) ::_exit(body());
}

TestTerminal::~TestTerminal() {
    if (master_ >= 0) ::close(master_);
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

void TestTerminal::type(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(master_, text.data() + done, text.size() - done);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

bool TestTerminal::read_until(const std::string& want, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_.find(want) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        struct pollfd p {master_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(master_, buf, sizeof buf);
        if (n <= 0) return false;  // EIO: every process on the terminal is gone
        out_.append(buf, static_cast<size_t>(n));
    }
    return true;
}

void TestTerminal::resize(uint16_t rows, uint16_t cols) {
    struct winsize ws {rows, cols, 0, 0};
    ::ioctl(master_, TIOCSWINSZ, &ws);
}

bool TestTerminal::is_raw() const {
    struct termios t {};
    if (::tcgetattr(master_, &t) != 0) return false;
    return !(t.c_lflag & (ECHO | ICANON | ISIG));
}

int TestTerminal::wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace lxbox::test
