// The host's terminal in a container without a pty (lxbox hands over its own fds 0-2): nothing
// the container does can type into it (TIOCSTI, TIOCLINUX), on launch, exec and oci run; and
// what the terminal sends (Ctrl-C, Ctrl-\, Ctrl-Z, fg) still reaches the command's processes,
// although they are in a session of their own. A real pty of the test's own plays the user's
// terminal; a static probe inside plays the attacker.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/process.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_terminal.hpp"

namespace lxbox::test {
namespace {

// Where one of lxbox's fds 0-2 points.
enum class To { Terminal, Null, Pipe, File };

struct Arrangement {
    const char* name;
    To in, out, err;
};

// The terminal as stdout and stderr with stdin from /dev/null or a pipe (`</dev/null`, `echo |`),
// as stderr alone, as stdout alone, as stdin alone (output to a file), as all three with -T, and
// as none of them: a process whose controlling terminal it is reaches it through /dev/tty.
const Arrangement kArrangements[] = {
    {"stdin /dev/null", To::Null, To::Terminal, To::Terminal},
    {"stdin a pipe", To::Pipe, To::Terminal, To::Terminal},
    {"stderr alone", To::Null, To::File, To::Terminal},
    {"stdout alone", To::Pipe, To::Terminal, To::File},
    {"stdin alone", To::Terminal, To::File, To::File},
    {"all three, -T", To::Terminal, To::Terminal, To::Terminal},
    {"none of them (/dev/tty only)", To::Null, To::File, To::File},
};

bool is_terminal(const Arrangement& a, int fd) { return (fd == 0 ? a.in : fd == 1 ? a.out : a.err) == To::Terminal; }

// Points fd at what `to` names (the terminal is there already); in the forked child only.
void point(int fd, To to, const std::string& file) {
    int target = -1;
    if (to == To::Null) target = ::open("/dev/null", O_RDWR);
    if (to == To::File) target = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (to == To::Pipe) {
        int p[2];
        if (::pipe(p) != 0) ::_exit(120);
        (void)!::write(p[1], "\n", 1);  // `echo | lxbox ...`
        ::close(p[1]);
        target = p[0];
    }
    if (to == To::Terminal) return;
    if (target < 0 || ::dup2(target, fd) < 0) ::_exit(121);
    ::close(target);
}

// What a run left behind: lxbox's exit code, the probe's report, and what sat in the terminal's
// input once lxbox had exited: what the user's shell would have read and run next.
struct Seen {
    int code = -1;
    std::string report, typed, printed;
};

std::string text_or(const std::string& path, const std::string& absent) {
    auto t = read_file(path);
    return t ? *t : absent;
}

// TIOCSTI without CAP_SYS_ADMIN on a terminal that is not the caller's controlling one: EPERM,
// or EIO before that where the kernel refuses it to everyone (dev.tty.legacy_tiocsti = 0).
std::string kernels_refusal() {
    return text_or("/proc/sys/dev/tty/legacy_tiocsti", "1\n") == "0\n" ? "EIO" : "EPERM";
}

class TerminalEscape : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::string out = dir / "out";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
        ASSERT_EQ(::mkdir(out.c_str(), 0777), 0);
        ASSERT_EQ(::chmod(out.c_str(), 0777), 0);  // the probe may run as nobody
    }
    void TearDown() override {
        if (kept_) run_lxbox(root, {"rm", "-f", "term"});
        if (oci_kept_) run({LXBOX_BINARY, "oci", "--root", state, "delete", "--force", "tty-exec"});
    }
    bool kept_ = false;      // a container named term was launched (exec's test)
    bool oci_kept_ = false;  // a bundle's container tty-exec was created (oci exec's test)
    std::string state = dir / "state";  // lxbox oci's state root

    std::vector<std::string> probe_mounts() const {
        return {"-v", std::string(LXBOX_TTY_PROBE) + ":/probe:ro", "-v", out + ":/out"};
    }

    // Runs argv (lxbox and its arguments) with its fds arranged as `a`, on a terminal of the
    // test's own whose input is not line-buffered (so that one typed byte is already there to
    // be read) and not echoed.
    Seen on_terminal(const std::vector<std::string>& argv, const Arrangement& a) {
        const std::string report = out + "/report", typed = dir / "typed", file = dir / "file";
        ::unlink(report.c_str());
        TestTerminal term(24, 80, [&]() -> int {
            struct termios t {};
            ::tcgetattr(0, &t);
            t.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
            ::tcsetattr(0, TCSANOW, &t);
            const pid_t lxbox = ::fork();
            if (lxbox == 0) {
                point(0, a.in, file);
                point(1, a.out, file);
                point(2, a.err, file);
                std::vector<char*> args;
                for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
                args.push_back(nullptr);
                ::execv(args[0], args.data());
                ::_exit(127);
            }
            int status = 0;
            ::waitpid(lxbox, &status, 0);
            int queued = 0;
            ::ioctl(0, FIONREAD, &queued);
            std::string bytes(static_cast<size_t>(queued > 0 ? queued : 0), '\0');
            if (queued > 0) bytes.resize(static_cast<size_t>(std::max<ssize_t>(0, ::read(0, bytes.data(), bytes.size()))));
            (void)write_file_atomic(typed, bytes);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        });
        EXPECT_TRUE(term.ok());
        Seen s;
        s.code = term.wait();
        term.read_until("(what lxbox printed, to its end)", std::chrono::seconds(5));
        s.printed = term.output();
        s.report = text_or(report, "(no report)");
        s.typed = text_or(typed, "(unknown)");
        return s;
    }

    std::vector<std::string> lxbox(const std::vector<std::string>& args) const {
        std::vector<std::string> argv = {LXBOX_BINARY, "--root", root};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    // The probe's answers by "request fd" ("tiocsti 1" -> "EPERM"), and "fd 1" -> "tty".
    static std::map<std::string, std::string> answers(const std::string& report) {
        std::map<std::string, std::string> m;
        std::istringstream in(report);
        std::string what, fd, answer;
        while (in >> what >> fd >> answer) m[what + " " + fd] = answer;
        return m;
    }

    // Nothing was typed, the terminal fds were the host's terminal, and every attempt failed:
    // with EPERM from the filter on every fd (filtered), else with EPERM from the kernel on a
    // terminal (TIOCSTI on a terminal that is not the caller's controlling one).
    void expect_nothing_typed(const Seen& s, const Arrangement& a, bool filtered, const std::string& how) {
        SCOPED_TRACE(how + ", " + a.name);
        EXPECT_EQ(s.code, 0) << s.printed;
        EXPECT_EQ(s.typed, "") << "typed into the host's terminal";
        auto m = answers(s.report);
        ASSERT_EQ(m.size(), 13u) << s.report;  // fds 0-2, and /dev/tty refused
        EXPECT_NE(m["devtty open"], "ok") << "the host's terminal is the container's controlling one\n" << s.report;
        for (int fd = 0; fd < 3; ++fd) {
            const std::string n = std::to_string(fd);
            EXPECT_EQ(m["fd " + n], is_terminal(a, fd) ? "tty" : "other") << s.report;
            for (const char* request : {"tiocsti", "tiocsti-high", "tioclinux"}) {
                const std::string answer = m[std::string(request) + " " + n];
                EXPECT_NE(answer, "ok") << request << " on fd " << fd << "\n" << s.report;
                if (filtered) {
                    EXPECT_EQ(answer, "EPERM") << request << " on fd " << fd;
                }
            }
            if (is_terminal(a, fd)) {
                EXPECT_EQ(m["tiocsti " + n], filtered ? "EPERM" : kernels_refusal()) << s.report;
            }
        }
    }
};

TEST_F(TerminalEscape, LaunchCannotTypeIntoTheHostsTerminal) {
    for (const auto& a : kArrangements) {
        std::vector<std::string> args = {"launch", "--rm"};
        if (a.in == To::Terminal && a.out == To::Terminal) args.push_back("-T");
        for (const auto& m : probe_mounts()) args.push_back(m);
        args.insert(args.end(), {"--", "/probe", "/out/report"});
        expect_nothing_typed(on_terminal(lxbox(args), a), a, true, "launch");
    }
}

// Each of the two defences holds alone: the session (no controlling terminal: the kernel wants
// CAP_SYS_ADMIN) without the filter, and the filter for a container that holds CAP_SYS_ADMIN.
// The reproduction ran as nobody.
TEST_F(TerminalEscape, EachDefenceHoldsAlone) {
    const Arrangement& a = kArrangements[0];
    for (const auto& [options, filtered] : std::vector<std::pair<std::vector<std::string>, bool>>{
             {{"-u", "nobody"}, true}, {{"--seccomp", "unconfined"}, false}, {{"--cap-add", "SYS_ADMIN"}, true}}) {
        std::vector<std::string> args = {"launch", "--rm"};
        args.insert(args.end(), options.begin(), options.end());
        for (const auto& m : probe_mounts()) args.push_back(m);
        args.insert(args.end(), {"--", "/probe", "/out/report"});
        expect_nothing_typed(on_terminal(lxbox(args), a), a, filtered, "launch " + options[0] + " " + options[1]);
    }
}

TEST_F(TerminalEscape, ExecCannotTypeIntoTheHostsTerminal) {
    std::vector<std::string> start = {"launch", "--name", "term", "-T"};
    for (const auto& m : probe_mounts()) start.push_back(m);
    start.insert(start.end(), {"--", "sleep", "60"});
    std::string line;
    for (const auto& s : lxbox(start)) line += s + " ";
    kept_ = true;
    ASSERT_EQ(run({"sh", "-c", line + ">/dev/null 2>&1 </dev/null & echo started"}).out, "started\n");
    bool up = false;
    for (int i = 0; i < 500 && !up; ++i) {
        up = run_lxbox(root, {"exec", "term", "-T", "--", "true"}).exit_code == 0;
        if (!up) ::usleep(20000);
    }
    ASSERT_TRUE(up);
    for (const auto& a : kArrangements) {
        std::vector<std::string> args = {"exec", "term"};
        if (a.in == To::Terminal && a.out == To::Terminal) args.push_back("-T");
        args.insert(args.end(), {"--", "/probe", "/out/report"});
        expect_nothing_typed(on_terminal(lxbox(args), a), a, true, "exec");
    }
    EXPECT_EQ(run_lxbox(root, {"rm", "-f", "term"}).exit_code, 0);
    kept_ = false;
}

// A bundle of the busybox rootfs running args, without a seccomp profile (runc spec's), with
// the probe and the report's directory bound in; returns its directory.
std::string make_bundle(const ScratchDir& dir, const std::string& out, const std::vector<std::string>& args) {
    const std::string bundle = dir / "bundle";
    EXPECT_EQ(::mkdir(bundle.c_str(), 0755), 0);
    EXPECT_EQ(::mkdir((bundle + "/rootfs").c_str(), 0755), 0);
    EXPECT_EQ(run({"tar", "-xf", busybox_tarball(), "-C", bundle + "/rootfs"}).exit_code, 0);
    const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    const nlohmann::json config = {
        {"ociVersion", "1.0.2-dev"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", args},
          {"cwd", "/"},
          {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}}},
        {"mounts",
         {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
          {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "mode=755"}}},
          {{"destination", "/probe"}, {"type", "bind"}, {"source", LXBOX_TTY_PROBE}, {"options", {"rbind", "ro"}}},
          {{"destination", "/out"}, {"type", "bind"}, {"source", out}, {"options", {"rbind"}}}}},
        {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "ipc"}}, {{"type", "uts"}}}}}}};
    EXPECT_TRUE(write_file_atomic(bundle + "/config.json", config.dump()).ok());
    // The bind targets, made as an engine's image would have them.
    EXPECT_TRUE(write_file_atomic(bundle + "/rootfs/probe", "").ok());
    EXPECT_EQ(::mkdir((bundle + "/rootfs/out").c_str(), 0755), 0);
    return bundle;
}

// The session alone keeps the terminal, as with runc, whose nsexec starts one too.
TEST_F(TerminalEscape, OciRunCannotTypeIntoTheHostsTerminal) {
    const std::string bundle = make_bundle(dir, out, {"/probe", "/out/report"});
    for (const auto& a : kArrangements) {
        const std::vector<std::string> argv = {LXBOX_BINARY, "oci", "--root", state, "run", "-b", bundle, "tty-probe"};
        expect_nothing_typed(on_terminal(argv, a), a, false, "oci run");
    }
}

TEST_F(TerminalEscape, OciExecCannotTypeIntoTheHostsTerminal) {
    const std::string bundle = make_bundle(dir, out, {"/bin/sleep", "60"});  // no PATH: as runc, none by default
    oci_kept_ = true;
    // Created detached: its stdio must not be run()'s pipes, which it would hold open.
    const std::string oci = std::string(LXBOX_BINARY) + " oci --root " + state + " ";
    ASSERT_EQ(run({"sh", "-c", oci + "create -b " + bundle + " tty-exec </dev/null >/dev/null 2>&1 && " + oci +
                                   "start tty-exec && echo started"}).out,
              "started\n");
    for (const auto& a : kArrangements) {
        const std::vector<std::string> argv = {LXBOX_BINARY, "oci", "--root", state, "exec", "tty-exec",
                                               "--", "/probe", "/out/report"};
        expect_nothing_typed(on_terminal(argv, a), a, false, "oci exec");
    }
}

// The processes below the terminal's shell: lxbox, its init, the command, its children.
std::vector<pid_t> descendants(pid_t pid) {
    std::vector<pid_t> all;
    for (pid_t child : linux_fx::child_pids(pid)) {
        all.push_back(child);
        for (pid_t d : descendants(child)) all.push_back(d);
    }
    return all;
}

// The states of the processes below the shell ("lxbox S, init S, sh T, ..."), for a failure.
std::string states(pid_t shell) {
    std::string out;
    for (pid_t p : descendants(shell)) {
        auto st = linux_fx::proc_stat(p);
        out += std::to_string(p) + ":" + (st ? std::string(1, st->state) : "gone") + " ";
    }
    return out;
}

// Whether the container's command and its children (sh, sleep) are all stopped, or all not.
bool commands_stopped(pid_t shell, bool stopped) {
    auto below = descendants(shell);
    if (below.size() < 4) return false;  // lxbox, init, sh, sleep
    for (size_t i = 2; i < below.size(); ++i) {
        auto st = linux_fx::proc_stat(below[i]);
        if (!st || (st->state == 'T') != stopped) return false;
    }
    return true;
}

bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
        if (done()) return true;
        ::usleep(10000);
    }
    return false;
}

// Whether the command's shell has started its sleep (lxbox, init, sh, sleep below the shell):
// a key typed before would reach the shell alone.
bool sleep_runs(pid_t shell) {
    return eventually([shell] {
        auto below = descendants(shell);
        return below.size() >= 4 && text_or("/proc/" + std::to_string(below[3]) + "/comm", "") == "sleep\n";
    });
}

// What a TestTerminal's child runs: a shell's job control, reduced to one job. argv runs in a
// process group of its own in the terminal's foreground (the session leader's own group would
// be orphaned, where the kernel discards a Ctrl-Z). When it stops, the shell takes the terminal
// back, prints "[stopped]" and waits for a line (`fg`), then gives the terminal back and
// continues the job's group. It returns the job's exit code.
std::function<int()> shell_running(const std::vector<std::string>& argv) {
    return [argv]() -> int {
        for (int sig : {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU}) ::signal(sig, SIG_IGN);
        const pid_t job = ::fork();
        if (job == 0) {
            ::setpgid(0, 0);
            for (int sig : {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU}) ::signal(sig, SIG_DFL);
            std::vector<char*> args;
            for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::setpgid(job, job);
        ::tcsetpgrp(0, job);
        for (;;) {
            int status = 0;
            if (::waitpid(job, &status, WUNTRACED) != job) return 126;
            if (!WIFSTOPPED(status)) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            ::tcsetpgrp(0, ::getpgrp());
            (void)!::write(1, "[stopped]\r\n", 11);
            char line[64];
            (void)!::read(0, line, sizeof line);
            ::tcsetpgrp(0, job);
            ::killpg(job, SIGCONT);
        }
    };
}

// The container is in a session of its own, so the terminal's keys reach lxbox alone; lxbox
// passes them on, and init gives them to the command's whole process group, as the terminal
// would: sleep, a child of the shell, is interrupted too (the shell traps the signal and waits).
TEST_F(TerminalEscape, CtrlCAndCtrlBackslashReachTheCommandsChildren) {
    TestTerminal term(24, 80, shell_running(lxbox({"launch", "--rm", "-T", "--", "sh", "-c",
                                                   "trap 'echo trapped' INT QUIT; echo ready-1; sleep 30; "
                                                   "echo after-$?; echo ready-2; sleep 30; echo after-$?"})));
    ASSERT_TRUE(term.ok());
    ASSERT_TRUE(term.read_until("ready-1")) << term.output();
    ASSERT_TRUE(sleep_runs(term.pid()));
    term.type("\x03");
    EXPECT_TRUE(term.read_until("after-130")) << term.output();
    ASSERT_TRUE(term.read_until("ready-2")) << term.output();
    ASSERT_TRUE(sleep_runs(term.pid()));
    term.type("\x1c");
    EXPECT_TRUE(term.read_until("after-131")) << term.output();
    EXPECT_EQ(term.wait(), 0);
}

// Ctrl-Z stops the command and its children, then lxbox: the shell sees its job stopped; its
// fg continues them all.
TEST_F(TerminalEscape, CtrlZStopsTheContainerAndFgResumesIt) {
    TestTerminal term(24, 80, shell_running(lxbox({"launch", "--rm", "-T", "--", "sh", "-c", "echo ready; sleep 30; echo done"})));
    ASSERT_TRUE(term.ok());
    ASSERT_TRUE(term.read_until("ready")) << term.output();
    ASSERT_TRUE(sleep_runs(term.pid()));
    term.type("\x1a");
    EXPECT_TRUE(term.read_until("[stopped]")) << term.output();
    EXPECT_TRUE(eventually([&] { return commands_stopped(term.pid(), true); })) << states(term.pid());
    term.type("fg\n");
    EXPECT_TRUE(eventually([&] { return commands_stopped(term.pid(), false); })) << states(term.pid());
    term.type("\x03");
    EXPECT_EQ(term.wait(), 130);
}

}  // namespace
}  // namespace lxbox::test
