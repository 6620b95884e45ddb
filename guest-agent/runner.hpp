// A session's container, run by a forked runner process of the agent: the runner mounts what
// the Run asks for (a distro's disk, the containers' disk), starts the container with the runtime/ library exactly
// as the native path does, waits for it, and reports its outcome as one JSON line. Forked
// with glibc's fork() from the multithreaded agent, so the runner is single-threaded and the
// runtime's raw clone3 inside it is safe.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "runtime/base/error.hpp"
#include "runtime/base/unique_fd.hpp"
#include "runtime/proto/messages.hpp"

namespace lxbox::agent {

struct Runner {
    pid_t pid = -1;
    // The container's stdio (non-blocking ends). With a tty, stdin_fd and stdout_fd are empty
    // until the pty master arrives on pty_sock, then both are that master (dups of pty_master),
    // and stderr_fd carries only the runner's own messages.
    UniqueFd stdin_fd, stdout_fd, stderr_fd;
    UniqueFd report_fd;  // EOF once the runner is done
    UniqueFd pty_sock;   // tty: the runner sends the container's pty master here (SCM_RIGHTS)
    UniqueFd pty_master; // tty, once received: for the window size
};

// Forks the runner for run: its stdio are pipes to the agent; with run.tty its stdin and
// stdout are /dev/null instead, and the container's pty master comes back on pty_sock, sized
// run.rows x run.cols, before the command starts.
Result<Runner> start_runner(const proto::Run& run);
// Takes the master from r.pty_sock (readable) as the session's stdin and stdout ends; none
// when the runner closed it without one (its report says why).
Status receive_pty(Runner& r);
// What a Run's runner reports as soon as its container is up (the first line of its report):
// what an Exec needs to join the container.
struct ContainerStarted {
    pid_t pid = 0;              // the container's init
    uint64_t start_time = 0;    // /proc/PID/stat field 22, against pid reuse
    int namespaces = 0;         // Container::namespaces()
    std::vector<std::string> cgroup_paths;
};
// Pure: the started line of a (partial) report; nullopt while the container is not up yet.
std::optional<ContainerStarted> parse_started(const std::string& report);
// Forks a runner that starts exec.process in the running container `target` (setns, as
// `lxbox exec` natively), with stdio and tty handled as for a Run.
Result<Runner> start_joiner(const proto::Exec& exec, const ContainerStarted& target);
// Forks a runner that mounts remove.mounts and deletes remove.container_dir (code 0 when done).
Result<Runner> start_remover(const proto::Remove& remove);

// What the runner reported last: the exit code and, for an exec failure, an OOM kill or a failure
// to start, the message lxbox prints ("" for a plain exit). A missing or torn report (the
// runner died) is code 125 with a message saying so.
struct RunReport {
    int code = 125;
    std::string message;
};
RunReport parse_run_report(const std::string& text);

}  // namespace lxbox::agent
