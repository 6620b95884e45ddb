// containerd as a client of `lxbox oci` (issue 23): a private containerd (Debian's, the runc v2
// shim with lxbox-oci as its runtime binary, `ctr run --runc-binary`) with its own root, state,
// socket and config in the test's scratch directory, started and stopped by the test; an OCI
// archive of the busybox rootfs imported. Nothing is left: no shim, mount, cgroup or state.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/private_containerd.hpp"
#include "tests/common/test_support.hpp"
#include "tests/common/test_terminal.hpp"

extern char** environ;

namespace lxbox::test {
namespace {

const std::string kImage = "lxbox.test/busybox:latest";

class Containerd : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string runtime = dir / "lxbox-oci";
    // ctr's cgroups are /NAMESPACE/ID in each hierarchy: a namespace of this test's own.
    std::string ns = "lxbox-e2e-" + std::to_string(::getpid());
    std::unique_ptr<PrivateContainerd> containerd;

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (containerd)");
        if (::access("/usr/bin/containerd", X_OK) != 0) LXBOX_SKIP("containerd is not installed (tools/setup --test)");
        ASSERT_EQ(::symlink(LXBOX_BINARY, runtime.c_str()), 0);
        containerd = std::make_unique<PrivateContainerd>(dir.path(), "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n");
        ASSERT_TRUE(containerd->started()) << containerd->log();
        const std::string imported = containerd->import_busybox(ns, kImage);
        ASSERT_EQ(imported, "");
    }

    void TearDown() override {
        if (!containerd) return;
        // Whatever a failed test left: its tasks killed and deleted, then containerd stopped.
        auto tasks = ctr({"tasks", "ls", "-q"});
        std::istringstream ids(tasks.out + ctr({"containers", "ls", "-q"}).out);
        for (std::string id; std::getline(ids, id);) {
            ctr({"tasks", "kill", "-s", "KILL", id});
            ctr({"tasks", "delete", "--force", id});
            ctr({"containers", "delete", id});
        }
        containerd.reset();
        for (const auto& root : cgroup_roots()) ::rmdir((root + "/" + ns).c_str());
    }

    std::vector<std::string> ctr_argv(const std::vector<std::string>& args) { return containerd->ctr_argv(ns, args); }
    CommandResult ctr(const std::vector<std::string>& args) { return containerd->ctr(ns, args); }
    // `ctr run` with lxbox-oci as the shim's runtime, its state under the scratch directory.
    std::vector<std::string> run_args(const std::vector<std::string>& flags, const std::string& id,
                                      const std::vector<std::string>& cmd) {
        std::vector<std::string> a = {"run", "--runc-binary", runtime, "--runc-root", dir / "runc"};
        a.insert(a.end(), flags.begin(), flags.end());
        a.push_back(kImage);
        a.push_back(id);
        a.insert(a.end(), cmd.begin(), cmd.end());
        return a;
    }
    CommandResult ctr_run(const std::vector<std::string>& flags, const std::string& id,
                          const std::vector<std::string>& cmd) {
        return ctr(run_args(flags, id, cmd));
    }
    // The task's status as `ctr tasks ls` shows it ("" when it has none).
    std::string task_status(const std::string& id) {
        std::istringstream lines(ctr({"tasks", "ls"}).out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream f(line);
            std::string task, pid, status;
            f >> task >> pid >> status;
            if (task == id) return status;
        }
        return "";
    }
    bool wait_task(const std::string& id, const std::string& status) {
        for (int i = 0; i < 500; ++i) {
            if (task_status(id) == status) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    std::vector<std::string> task_pids(const std::string& id) {
        std::vector<std::string> out;
        std::istringstream lines(ctr({"tasks", "ps", id}).out);
        std::string line;
        std::getline(lines, line);  // PID INFO
        while (std::getline(lines, line))
            if (!line.empty()) out.push_back(line.substr(0, line.find(' ')));
        return out;
    }
    // What every run must leave: no shim, no mount, no cgroup, no runtime state.
    void expect_nothing_left() {
        containerd->expect_no_shim_mount_or_state({dir / "runc/" + ns, dir / "state/io.containerd.runtime.v2.task/" + ns});
        for (const auto& root : cgroup_roots())
            for (const auto& e : entries(root + "/" + ns)) {
                struct stat st;
                const std::string path = root + "/" + ns + "/" + e;
                if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ADD_FAILURE() << "cgroup left: " << path;
            }
    }
};

TEST_F(Containerd, RunExitCodesDetachExecPsPauseMetricsKillDelete) {
    auto r = ctr_run({"--rm"}, "once", {"sh", "-c", "echo hi; exit 3"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "hi\n");
    ASSERT_EQ(ctr_run({"-d"}, "c1", {"sleep", "60"}).exit_code, 0);
    EXPECT_TRUE(wait_task("c1", "RUNNING"));
    auto e = ctr({"tasks", "exec", "--exec-id", "e1", "c1", "sh", "-c", "echo in; exit 4"});
    EXPECT_EQ(e.exit_code, 4) << e.err;
    EXPECT_EQ(e.out, "in\n");
    EXPECT_EQ(task_pids("c1").size(), 1u);
    // A detached exec's pid is its command: a KILL through containerd ends it.
    ASSERT_EQ(ctr({"tasks", "exec", "--detach", "--exec-id", "e2", "c1", "sleep", "100"}).exit_code, 0);
    auto pids = task_pids("c1");
    ASSERT_EQ(pids.size(), 2u);
    auto kill_exec = ctr({"tasks", "kill", "--exec-id", "e2", "-s", "KILL", "c1"});
    EXPECT_EQ(kill_exec.exit_code, 0) << kill_exec.err;
    for (int i = 0; i < 250 && task_pids("c1").size() != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(task_pids("c1").size(), 1u);
    // CRI's ExecSync on timeout: a KILL by exec id while the client waits on the exec's output,
    // which must end then (it hung while the command, not the killed helper, held the output).
    std::vector<std::string> argv = ctr_argv({"tasks", "exec", "--exec-id", "e3", "c1", "sleep", "100"});
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t waiting = -1;
    ASSERT_EQ(posix_spawnp(&waiting, args[0], nullptr, nullptr, args.data(), environ), 0);
    for (int i = 0; i < 250 && task_pids("c1").size() != 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(task_pids("c1").size(), 2u);
    EXPECT_EQ(ctr({"tasks", "kill", "--exec-id", "e3", "-s", "KILL", "c1"}).exit_code, 0);
    int status = -1;
    for (int i = 0; i < 1000 && ::waitpid(waiting, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!WIFEXITED(status)) {
        ::kill(waiting, SIGKILL);
        ::waitpid(waiting, nullptr, 0);
        ADD_FAILURE() << "ctr tasks exec still waits 20 s after its process was killed";
    } else {
        EXPECT_EQ(WEXITSTATUS(status), 137);
    }
    ASSERT_EQ(ctr({"tasks", "pause", "c1"}).exit_code, 0);
    EXPECT_EQ(task_status("c1"), "PAUSED");
    ASSERT_EQ(ctr({"tasks", "resume", "c1"}).exit_code, 0);
    EXPECT_EQ(task_status("c1"), "RUNNING");
    auto metrics = ctr({"tasks", "metrics", "--format", "json", "c1"});
    EXPECT_EQ(metrics.exit_code, 0) << metrics.err;
    EXPECT_NE(metrics.out.find("memory"), std::string::npos) << metrics.out;
    ASSERT_EQ(ctr({"tasks", "kill", "-s", "KILL", "c1"}).exit_code, 0);
    EXPECT_TRUE(wait_task("c1", "STOPPED"));
    // A kill of the stopped task: the shim takes runc's answer as "already gone" (lxbox's own
    // words were "unknown error after kill", and its exits went unrecorded under CRI).
    auto late = ctr({"tasks", "kill", "-a", "-s", "KILL", "c1"});
    EXPECT_EQ(late.exit_code, 0) << late.err;
    auto deleted = ctr({"tasks", "delete", "c1"});
    EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
    EXPECT_EQ(ctr({"containers", "delete", "c1"}).exit_code, 0);
    expect_nothing_left();
}

TEST_F(Containerd, TheOomKillIsTheTasksExit) {
    // tail keeps its one endless line of /dev/zero in memory, past the 32 MiB limit.
    auto r = ctr_run({"--rm", "--memory-limit", "33554432"}, "oom", {"tail", "/dev/zero"});
    EXPECT_EQ(r.exit_code, 137) << r.err;
    expect_nothing_left();
}

TEST_F(Containerd, RunWithATerminalPrintsTheTty) {
    // ctr run -t needs its stdin to be a terminal: a pty of the test's own.
    const auto argv = ctr_argv(run_args({"--rm", "-t"}, "tty", {"sh", "-c", "tty; echo done-$((6*7))"}));
    TestTerminal term(24, 80, [&] {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        return 127;
    });
    ASSERT_TRUE(term.ok());
    EXPECT_TRUE(term.read_until("done-42")) << term.output();
    EXPECT_NE(term.output().find("/dev/pts/0"), std::string::npos) << term.output();
    EXPECT_EQ(term.wait(), 0) << term.output();
    expect_nothing_left();
}

TEST_F(Containerd, RunRmAHundredTimesLeavesNothing) {
    for (int i = 0; i < 100; ++i) {
        auto r = ctr_run({"--rm"}, "rm" + std::to_string(i), {"true"});
        ASSERT_EQ(r.exit_code, 0) << i << ": " << r.err;
    }
    EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "");
    expect_nothing_left();
}

}  // namespace
}  // namespace lxbox::test
