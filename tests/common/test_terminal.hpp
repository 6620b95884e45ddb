// A terminal of the test's own (forkpty), driving a child as a user's terminal would: the
// child is the session leader, with the pty's slave as its controlling terminal and stdio.
// Shared by the native pty test and the vm one, which must behave the same.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace lxbox::test {

class TestTerminal {
public:
    // Forks a child on a new rows x cols pty; it runs body and exits with what body returns.
    // Check ok(): forkpty can fail.
    TestTerminal(uint16_t rows, uint16_t cols, const std::function<int()>& body);
    ~TestTerminal();  // closes the terminal; kills and reaps a child still running
    TestTerminal(const TestTerminal&) = delete;
    TestTerminal& operator=(const TestTerminal&) = delete;

    bool ok() const { return pid_ > 0; }
    // Writes text as typed (\r for Enter, \x03 for Ctrl-C).
    void type(const std::string& text);
    // Reads until everything read so far contains want; false after timeout or the child's end.
    bool read_until(const std::string& want, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    const std::string& output() const { return out_; }
    // The kernel sends SIGWINCH to the terminal's foreground processes.
    void resize(uint16_t rows, uint16_t cols);
    // The terminal's current settings are raw (no echo, no line editing, no signal keys).
    bool is_raw() const;
    // Waits for the child: its exit code, 128+N when killed by signal N.
    int wait();
    pid_t pid() const { return pid_; }

private:
    int master_ = -1;
    pid_t pid_ = -1;
    std::string out_;
};

}  // namespace lxbox::test
