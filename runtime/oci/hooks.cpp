#include "runtime/oci/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::runtime::oci {

namespace {

Status run_hook(const Hook& hook, const std::string& stage, const std::string& state) {
    const std::string what = stage + " hook " + hook.path;
    auto [in_read, in_write] = LXBOX_TRY(make_pipe());
    std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = hook.env;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, hook.path.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return Error::sys(rc, "run " + what);
    in_read.reset();
    UniqueFd pidfd(sys::pidfd_open(pid));
    // A hook that does not read its stdin must not fail the write (EPIPE), nor block it. The
    // old disposition comes back: the container's process execs its command after its hooks.
    struct sigaction ignore {}, old {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &old);
    (void)write_all(in_write.get(), state);
    ::sigaction(SIGPIPE, &old, nullptr);
    in_write.reset();
    const int timeout_ms = hook.timeout ? *hook.timeout * 1000 : -1;
    struct pollfd p{pidfd.get(), POLLIN, 0};
    int n;
    while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    if (n == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return Error(ErrorKind::System, what + ": timed out after " + std::to_string(*hook.timeout) + " s");
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    if (WIFSIGNALED(status))
        return Error(ErrorKind::System, what + ": killed by signal " + std::to_string(WTERMSIG(status)));
    return Error(ErrorKind::System, what + ": exited with status " + std::to_string(WEXITSTATUS(status)));
}

}  // namespace

Status run_hooks(const std::vector<Hook>& hooks, const std::string& stage, const std::string& state_json) {
    for (const auto& h : hooks) LXBOX_TRY(run_hook(h, stage, state_json));
    return {};
}

}  // namespace lxbox::runtime::oci
