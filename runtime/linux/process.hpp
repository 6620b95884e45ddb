// Process effects: identity, signals, waiting through pidfds, the loopback interface.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string_view>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/plan/users.hpp"

namespace lxbox::linux_fx {

// setgroups (unless user.groups is empty), setgid, setuid, in that order (groups first: after
// setuid we may no longer).
Status switch_user(const runtime::ResolvedUser& user);
// ip link set lo up (in a fresh network namespace lo starts down).
Status bring_up_loopback();

// Blocks signals for as long as it lives (the previous mask comes back in the destructor).
class SignalBlock {
public:
    explicit SignalBlock(const sigset_t& set);
    SignalBlock(const SignalBlock&) = delete;
    SignalBlock& operator=(const SignalBlock&) = delete;
    ~SignalBlock();

private:
    sigset_t old_{};
};

// The signals lxbox forwards to a container: TERM, INT, HUP, QUIT, USR1, USR2, RTMIN+3 (systemd's
// halt), plus WINCH.
sigset_t forwarded_signals();
Result<UniqueFd> make_signal_fd(const sigset_t& set);

// Fields of /proc/PID/stat: 3 (state: R, S, D, Z, ...), 4 (parent) and 22 (start time).
struct ProcStat {
    char state = 0;
    pid_t ppid = 0;
    uint64_t start_time = 0;
};
// Pure: parses the text after the last ')' (the command name may hold spaces and parentheses).
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The process's, or nullopt if it is gone.
std::optional<ProcStat> proc_stat(pid_t pid);

// Pure: the number of a field of /proc/PID/status in `base` (16 for the signal masks, where
// bit N-1 is signal N: "SigIgn:\t0000000000000004"; 8 for "Umask:\t0022"), or nullopt when the
// field is missing or not such a number.
std::optional<uint64_t> parse_status_number(std::string_view status, std::string_view field, int base);
// The signals whose disposition is not SIG_DFL (ignored or caught), from /proc/self/status;
// every signal when it cannot be read.
uint64_t non_default_signals();

// Start time of a live process (field 22 of /proc/PID/stat, clock ticks since boot), or nullopt
// if it is gone: with the pid, it names a process across pid reuse.
std::optional<uint64_t> process_start_time(pid_t pid);
// The parent of a live process (field 4 of /proc/PID/stat), or nullopt if it is gone.
std::optional<pid_t> parent_pid(pid_t pid);
// The children of a process's main thread (/proc/PID/task/PID/children).
std::vector<pid_t> child_pids(pid_t pid);

// This boot's id (/proc/sys/kernel/random/boot_id, without its newline); "" when unreadable.
// What tells a pid or a measurement of this boot from one of an earlier boot.
std::string boot_id();

// Pure: the last line of a program's output with text in it, trimmed (its complaint, as a
// tool prints it last); "" for none.
std::string last_line(std::string text);

// Makes this process show as `name` in /proc/PID/cmdline and /proc/PID/comm (ps, top) instead
// of the command line it was started with: the container's init is lxbox itself, and lxbox's
// arguments (-v host paths, --root, the bundle's path) are the host's business. Its own copy
// of the arguments is overwritten (a forked process's pages are its own), as runc's init,
// exec'd as "runc init", shows no more.
void set_neutral_command_line(const char* name);

// Waits for the child behind pidfd and returns its exit code (128+N when killed by N).
Result<int> wait_exit(int pidfd);
// The same without blocking: nullopt while the child runs.
Result<std::optional<int>> poll_exit(int pidfd);

}  // namespace lxbox::linux_fx
