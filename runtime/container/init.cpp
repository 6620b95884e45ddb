// The container's command and its tiny init. Our own, like tini, because it is ~50 lines and
// runs in the already-forked lxbox image: exec'ing a separate init binary would cost a
// millisecond of the start-up budget and need a file inside every distro.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "runtime/container/child.hpp"
#include "runtime/linux/exec_stub.hpp"
#include "runtime/linux/process.hpp"
#include "runtime/linux/pty.hpp"
#include "runtime/linux/security.hpp"
#include "runtime/linux/syscalls.hpp"

extern char** environ;

namespace lxbox::runtime::detail {

namespace fx = lxbox::linux_fx;

namespace {

// The command starts with every signal at its default and none blocked. exec resets caught
// signals but keeps ignored ones (the caller's nohup, a shell's background job): those are
// reset here, with the caught ones so that no handler of ours can run before the exec.
// non_default: the signals to reset (bit N-1 for signal N), read before the fork; asking
// the kernel about each signal here instead cost 62 syscalls on every launch.
void reset_signals(uint64_t non_default) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG && s <= 64; ++s) {
        if (s != SIGKILL && s != SIGSTOP && (non_default >> (s - 1) & 1)) ::sigaction(s, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The command's argv and environment as exec wants them, built before any fork: the command
// is spawned with vfork (below), whose child must not allocate. The command is exec'd through
// the sealed exec stub (runtime/linux/exec_stub.hpp), whose argv this is.
struct ExecArgs {
    std::vector<std::string> strings;
    std::vector<char*> argv;
    std::vector<char*> envp;
    uint64_t signals_to_reset = ~0ULL;
    // Set by the command's process when it reports a failure before its exec: init's vfork
    // child shares init's memory, so init knows the report is made (it is one message).
    mutable volatile bool reported = false;
};

[[noreturn]] void fail_command(const ExecArgs& args, const ChildChannel& ch, const Error& error, int code) {
    args.reported = true;
    fail(ch, error, code);
}

ExecArgs exec_args(const Prepared& p, const ChildChannel& ch) {
    ExecArgs a;
    a.strings = fx::exec_stub_argv(ch.error_fd, p.exec.file, p.exec.argv);
    for (const auto& s : a.strings) a.argv.push_back(const_cast<char*>(s.c_str()));
    a.argv.push_back(nullptr);
    for (const auto& e : p.env) a.envp.push_back(const_cast<char*>(e.c_str()));
    a.envp.push_back(nullptr);
    a.signals_to_reset = fx::non_default_signals();
    return a;
}

// Runs in the process that becomes the command: a plain child (--no-init) or the vfork child
// of init. Only syscalls on the success path; on failure it reports through the error pipe.
[[noreturn]] void exec_command(const Prepared& p, const ExecArgs& args, const ChildChannel& ch,
                               const std::string& tty_slave, bool die_with_parent) {
    if (!tty_slave.empty()) {
        if (auto st = fx::become_tty_session(tty_slave); !st) fail_command(args, ch, st.error(), 125);
    } else {
        // A process group of its own, which init signals as a terminal signals its foreground
        // group (init_loop). Init's own child only: a container's first process (no init)
        // leads its session, and so its group, already.
        (void)::setpgid(0, 0);
    }
    if (auto st = apply_process_limits(p); !st) fail_command(args, ch, st.error(), 125);
    if (p.umask) ::umask(*p.umask);
    // Explicit capability sets survive the switch to any user, and are set right after it.
    if (p.security.sets && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail_command(args, ch, Error::last("keep capabilities"), 125);
    if (auto st = fx::switch_user(p.user); !st) fail_command(args, ch, st.error().context("switch to user " + p.user.name), 125);
    if (auto st = fx::set_capabilities(p.security, p.user.uid); !st) fail_command(args, ch, st.error(), 125);
    // After the switch, so the user's own permissions decide whether the directory can be entered.
    if (::chdir(p.exec.cwd.c_str()) != 0) {
        if (p.exec.cwd_required) fail_command(args, ch, Error::last("enter " + p.exec.cwd), 125);
        if ((p.exec.fallback.empty() || ::chdir(p.exec.fallback.c_str()) != 0) && ::chdir("/") != 0)
            fail_command(args, ch, Error::last("enter /"), 125);
    }
    if (die_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    reset_signals(args.signals_to_reset);
    // Every fd above 2 closes at exec but the error pipe, which the stub closes at the
    // command's exec (it reports there when nothing could be exec'd).
    sys::close_range(3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
    if (ch.error_fd >= 0) ::fcntl(ch.error_fd, F_SETFD, 0);
    // The stub does execvp's PATH search in the container's environment.
    sys::execveat(ch.exec_stub, "", args.argv.data(), args.envp.data(), AT_EMPTY_PATH);
    fail_command(args, ch, Error::last("exec " + p.exec.file + " through lxbox's exec stub"), 126);
}

// The signals a terminal sends to its whole foreground process group: the keys (Ctrl-C, Ctrl-\,
// Ctrl-Z), the hangup, the window's size, and the continue after a stop. The container has a
// session of its own and never gets them from the host's terminal, only through lxbox; init
// sends them on to the command's group, so that a shell's or make's children get them too, as
// they would from the terminal. The others (a stop's TERM) go to the command alone, as docker's.
bool for_the_group(int sig) {
    return sig == SIGINT || sig == SIGQUIT || sig == SIGHUP || sig == SIGTSTP || sig == SIGCONT || sig == SIGWINCH;
}

// PID 1 of the container: reaps every zombie, forwards every signal to the command (or its
// group), and exits with the command's status (128+N when it was killed by signal N).
[[noreturn]] void init_loop(pid_t child, const sigset_t& all) {
    for (;;) {
        siginfo_t info{};
        const int sig = ::sigwaitinfo(&all, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            // The command may have left its group (a daemon's setsid): then it alone.
            if (!for_the_group(sig) || ::kill(-child, sig) != 0) ::kill(child, sig);
            continue;
        }
        int status = 0;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != child) continue;
            ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}

void quiet_stdio() {
    int null = ::open("/dev/null", O_RDWR);
    if (null < 0) return;
    for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
    if (null > 2) ::close(null);
}

}  // namespace

Status apply_process_limits(const Prepared& p) {
    for (const auto& [resource, limits] : p.rlimits) {
        const struct rlimit rl{limits.first, limits.second};
        if (::setrlimit(resource, &rl) != 0) return Error::last("set rlimit " + std::to_string(resource));
    }
    if (!p.oom_score_adj.empty()) {
        const UniqueFd fd(::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), p.oom_score_adj.data(), p.oom_score_adj.size()) < 0)
            return Error::last("set oom_score_adj " + p.oom_score_adj);
    }
    return {};
}

void close_all_but(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned first = 3;
    for (int k : keep) {
        if (k < static_cast<int>(first)) continue;
        if (static_cast<unsigned>(k) > first) sys::close_range(first, static_cast<unsigned>(k) - 1, 0);
        first = static_cast<unsigned>(k) + 1;
    }
    sys::close_range(first, ~0U, 0);
}

std::string open_tty(const ChildChannel& ch) {
    auto pty = fx::open_pty();
    if (!pty) fail(ch, pty.error(), 125);
    if (auto st = fx::send_fd(ch.pty_sock, pty->master.get()); !st) fail(ch, st.error(), 125);
    // Wait until lxbox has sized the pty and set its terminal raw: the command's first output
    // must see the real window size.
    char ack = 0;
    while (::read(ch.pty_sock, &ack, 1) < 0 && errno == EINTR) {
    }
    return pty->slave_path;
}

void run_process(const Prepared& prepared, const ProcessSpec& process, const ChildChannel& ch, bool with_init,
                 bool die_with_parent, const std::string* tty_slave) {
    const std::string slave = tty_slave ? *tty_slave : process.tty ? open_tty(ch) : std::string();
    const ExecArgs args = exec_args(prepared, ch);
    environ = const_cast<char**>(args.envp.data());
    // Bounding set, no_new_privs and seccomp before the fork: init is confined as well, and
    // the command inherits it all (the filter is built here, where allocating is fine).
    if (auto st = fx::enter_security(prepared.security); !st) fail(ch, st.error(), 125);
    if (!with_init) exec_command(prepared, args, ch, slave, die_with_parent);
    // Blocked before the fork, so no signal slips between fork and the wait loop.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    // Nothing of lxbox's may be reachable from the container, not even between the command's
    // start and init's clean-up, so before the command exists: init keeps no fd but 0-2 and,
    // until the command's exec, the error pipe (EOF at that exec) and the sealed exec stub; it
    // lets go of the host terminal when the command gets a pty, and is not dumpable: no process
    // of the container can ptrace it, read its memory or fds, or reach the host binary through
    // /proc/1/exe (the CVE-2019-5736 class; runc's init does the same). The command's exec
    // makes it dumpable again as usual.
    close_all_but({ch.error_fd, ch.exec_stub});
    if (process.tty) quiet_stdio();
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // vfork: init is a copy of all of lxbox, and a fork would copy its page tables only for
    // exec to throw them away (~2 ms of a launch). The child shares init's memory until it
    // execs, touching nothing but its own stack frame: the exec args were built above, and it
    // does not return from here. Its signal handlers and fds are its own (no CLONE_SIGHAND,
    // no CLONE_FILES).
    const pid_t child = ::vfork();
    if (child < 0) fail(ch, Error::last("fork the command"), 125);
    if (child == 0) exec_command(prepared, args, ch, slave, die_with_parent);
    // Init stays root, with the container's capabilities. If it cannot lower its own (a
    // profile refusing capset), PID 1 would keep every one the bounding set does not take from
    // a process that never execs: the container fails instead, while the error pipe is open.
    if (auto st = fx::set_capabilities(prepared.security, 0); !st) {
        // A command that failed before its exec (the same capset, as root) has reported why
        // already, and the report is one message: init then only passes its status on.
        ::kill(child, SIGKILL);
        if (!args.reported) fail(ch, st.error().context("lower the capabilities of the container's init"), 125);
        ::close(ch.error_fd);
        init_loop(child, all);
    }
    ::close(ch.error_fd);
    if (ch.exec_stub >= 0) ::close(ch.exec_stub);  // the command has exec'd through it
    init_loop(child, all);
}

}  // namespace lxbox::runtime::detail
