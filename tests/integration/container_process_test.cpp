// Processes around a container: signals forwarded, the pty, exec joining, and no leaks.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <set>
#include <thread>

#include "runtime/linux/exec_stub.hpp"
#include "runtime/linux/syscalls.hpp"
#include "tests/common/test_terminal.hpp"
#include "tests/integration/container_fixture.hpp"

namespace lxbox::test {
namespace {

using ContainerProcesses = ContainerFixture;

bool wait_for_file(const std::string& path, int ms = 10000) {
    struct stat st;
    for (int i = 0; i < ms / 10; ++i) {
        if (::stat(path.c_str(), &st) == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

// A helper process (not a thread: lxbox's wait blocks the signals in this one) that sends sig
// to the test process once path exists.
pid_t signal_when_ready(const std::string& path, int sig) {
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::_exit(wait_for_file(path) && ::kill(parent, sig) == 0 ? 0 : 1);
    }
    return pid;
}

TEST_F(ContainerProcesses, SignalsToLxboxReachTheCommand) {
    const std::string shared = dir / "shared";
    ::mkdir(shared.c_str(), 0755);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        ::unlink((shared + "/ready").c_str());
        auto s = spec("sig");
        s.binds = {{shared, "/shared", false}};
        const pid_t helper = signal_when_ready(shared + "/ready", sig);
        auto r = sh(s, "trap 'exit 42' TERM INT HUP; touch /shared/ready; while :; do sleep 0.05; done");
        int st = 0;
        ::waitpid(helper, &st, 0);
        EXPECT_EQ(r.code, 42) << "signal " << sig;
    }
}

// A caller that ignores signals (nohup, a shell's background job) does not pass that on.
TEST_F(ContainerProcesses, TheCommandStartsWithEverySignalAtItsDefault) {
    struct sigaction ign {}, old_int {}, old_usr1 {};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ign, &old_int);
    ::sigaction(SIGUSR1, &ign, &old_usr1);
    for (bool with_init : {true, false}) {
        auto s = spec("sigs");
        s.init = with_init;
        // grep itself, not under sh: busybox's sh -c ignores SIGQUIT for what it runs.
        EXPECT_EQ(run_in(s, {"grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"}).out,
                  "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
            << (with_init ? "with init" : "without init");
    }
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGUSR1, &old_usr1, nullptr);
}

TEST_F(ContainerProcesses, InitReapsOrphanedZombies) {
    auto r = sh(spec("zombie"), "sh -c 'sleep 0.05 & exit 0'; sleep 0.3; ps -o stat,comm | grep -c '^Z' || true");
    EXPECT_EQ(r.out, "0\n");
}

// Drives a container with a tty from a pty of the test's own, as a user's terminal would.
TEST_F(ContainerProcesses, PtyGivesAControllingTerminalWithSizeAndCtrlC) {
    auto s = spec("tty");
    s.process.tty = true;
    s.process.args = {"/bin/sh"};
    TestTerminal term(33, 101, [&s] {
        auto c = runtime::Container::start(s);
        if (!c) return 125;
        auto o = c->wait();
        return o ? o->exit_code : 125;
    });
    ASSERT_TRUE(term.ok());
    term.type("tty; stty size; echo SIZE-$((40+2))\r");
    EXPECT_TRUE(term.read_until("SIZE-42")) << term.output();
    EXPECT_NE(term.output().find("/dev/pts/0"), std::string::npos) << term.output();
    EXPECT_NE(term.output().find("33 101"), std::string::npos) << term.output();
    term.type("sleep 30\r");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    term.type("\x03");  // Ctrl-C through the line discipline to the foreground sleep
    term.type("echo back-$?\r");
    EXPECT_TRUE(term.read_until("back-130")) << term.output();
    term.resize(40, 120);  // the kernel sends SIGWINCH to the lxbox side
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    term.type("stty size; exit 3\r");
    EXPECT_TRUE(term.read_until("40 120")) << term.output();
    EXPECT_EQ(term.wait(), 3);
}

std::string ns_links(pid_t pid) {
    std::string out;
    for (const char* ns : {"mnt", "pid", "uts", "ipc", "net", "cgroup"}) {
        char buf[256] = {};
        std::string path = "/proc/" + std::to_string(pid) + "/ns/" + ns;
        ::readlink(path.c_str(), buf, sizeof buf - 1);
        out += std::string(buf) + "\n";
    }
    return out;
}

TEST_F(ContainerProcesses, ExecJoinsEveryNamespaceOfTheRunningContainer) {
    const std::string shared = dir / "shared";
    ::mkdir(shared.c_str(), 0755);
    auto s = spec("joined");
    s.network = "none";
    s.hostname = "joinme";
    s.binds = {{shared, "/shared", false}};
    s.process.args = {"/bin/sh", "-c", "touch /shared/ready; exec sleep 30"};
    auto c = runtime::Container::start(s);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_TRUE(wait_for_file(shared + "/ready"));
    runtime::JoinSpec j;
    j.pid = c->pid();
    j.process.args = {"/bin/sh", "-c",
                      "for n in mnt pid uts ipc net cgroup; do readlink /proc/self/ns/$n; done > /shared/ns;"
                      "hostname > /shared/host; echo $$ > /shared/pid; ls /proc | grep -c '^[0-9]' > /shared/procs"};
    auto joined = runtime::Container::join(j);
    ASSERT_TRUE(joined.ok()) << joined.error().message;
    auto o = joined->wait();
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->exit_code, 0);
    EXPECT_EQ(read_file(shared + "/ns").value(), ns_links(c->pid()));
    EXPECT_EQ(read_file(shared + "/host").value(), "joinme\n");
    EXPECT_LT(std::stoi(read_file(shared + "/pid").value()), 10);  // a pid of the container's namespace
    sys::pidfd_send_signal(c->pidfd(), SIGTERM);
    auto end = c->wait();
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(end->exit_code, 128 + SIGTERM);
}

std::set<pid_t> children_of(pid_t parent) {
    std::set<pid_t> out;
    DIR* d = ::opendir("/proc");
    while (auto* e = ::readdir(d)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        if (!stat) continue;
        auto close = stat->rfind(')');
        int ppid = 0;
        std::sscanf(stat->c_str() + close + 2, "%*c %d", &ppid);
        if (ppid == parent) out.insert(pid);
    }
    ::closedir(d);
    return out;
}

TEST_F(ContainerProcesses, RepeatedRunsLeakNoMountsProcessesOrFds) {
    // A host fd without O_CLOEXEC, as a careless library might leave: it must not get in.
    const int stray = ::open("/dev/null", O_RDONLY);
    const std::string mounts_before = read_file("/proc/self/mountinfo").value();
    // The sealed exec stub is made once per process and kept (O_CLOEXEC, never in a container):
    // made before the count, so that the count shows what each run leaves.
    ASSERT_TRUE(linux_fx::exec_stub_fd());
    const auto fds_before = open_fds();
    for (int i = 0; i < 10; ++i) {
        // init lets go of the error pipe the moment the command has exec'd (it cannot be opened
        // meanwhile: init is not dumpable), so the shell may look a little early; retry.
        auto r = sh(spec("leak" + std::to_string(i)),
                    "for t in 1 2 3 4 5 6 7 8 9 10; do l=$(ls /proc/1/fd); [ \"$l\" = \"$(printf '0\\n1\\n2')\" ] && break; "
                    "done; echo \"$l\"; echo --; ls /proc/$$/fd; true");
        // Both init's and the shell's: the caller's 0-2, nothing else (the stray fd included).
        EXPECT_EQ(r.out, "0\n1\n2\n--\n0\n1\n2\n") << "run " << i;
    }
    EXPECT_EQ(read_file("/proc/self/mountinfo").value(), mounts_before);
    EXPECT_TRUE(children_of(::getpid()).empty());
    EXPECT_EQ(open_fds(), fds_before);
    ::close(stray);
}

}  // namespace
}  // namespace lxbox::test
