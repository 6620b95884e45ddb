#include "runtime/oci/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/exec_stub.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/syscalls.hpp"

namespace lxbox::runtime::oci {

namespace {

// Spawns argv with stdin from in through the sealed exec stub (as the container's command is:
// a startContainer hook's file is the container's, see exec_stub.hpp). Returns 0 or an errno,
// as posix_spawn; the stub's own failure to find or exec the file is its exit status 127/126.
int spawn_through_stub(int exec_stub, const std::string& path, const std::vector<std::string>& args,
                       char* const envp[], int in, pid_t& pid) {
    const std::vector<std::string> stub_args = linux_fx::exec_stub_argv(-1, path, args);
    std::vector<char*> argv;
    for (const auto& a : stub_args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    volatile int err = 0;  // vfork: the child's memory is ours until it execs
    const pid_t child = ::vfork();
    if (child < 0) return errno;
    if (child == 0) {
        if (::dup2(in, 0) >= 0) sys::execveat(exec_stub, "", argv.data(), envp, AT_EMPTY_PATH);
        err = errno;
        ::_exit(127);
    }
    if (err != 0) {
        ::waitpid(child, nullptr, 0);
        return err;
    }
    pid = child;
    return 0;
}

Status run_hook(const Hook& hook, const std::string& stage, const std::string& state, int exec_stub) {
    const std::string what = stage + " hook " + hook.path;
    auto [in_read, in_write] = LXBOX_TRY(make_pipe());
    std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = hook.env;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc;
    if (exec_stub >= 0) {
        rc = spawn_through_stub(exec_stub, hook.path, args, envp.data(), in_read.get(), pid);
    } else {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
        rc = ::posix_spawn(&pid, hook.path.c_str(), &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
    }
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

Status run_hooks(const std::vector<Hook>& hooks, const std::string& stage, const std::string& state_json,
                 int exec_stub) {
    for (const auto& h : hooks) LXBOX_TRY(run_hook(h, stage, state_json, exec_stub));
    return {};
}

}  // namespace lxbox::runtime::oci
