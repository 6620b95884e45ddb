// podman as a client of `lxbox oci`: the engine drives lxbox through conmon exactly as it drives
// runc (--runtime). Each test uses a private podman storage and run root in its scratch
// directory, so nothing touches the host's images or containers.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class Podman : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string runtime = dir / "lxbox-oci";
    const std::string image = "localhost/lxbox-test/busybox";
    // podman's cgroupfs parent (its default is /libpod_parent, kept forever): one per test, removed
    // with conmon's group below it when the test ends.
    const std::string cgroup_parent = "/lxbox-e2e-podman-" + std::to_string(::getpid());

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (podman as root drives the runtime)");
        if (::access("/usr/bin/podman", X_OK) != 0) LXBOX_SKIP("podman is not installed (tools/setup --test)");
        // The name engines and conmon call it by; lxbox answers as `lxbox oci`.
        ASSERT_EQ(::symlink(LXBOX_BINARY, runtime.c_str()), 0);
        auto r = podman({"import", "--quiet", busybox_tarball(), image});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    void TearDown() override {
        podman({"rm", "--all", "--force", "--time", "0"});
        podman({"rmi", "--all", "--force"});
        // c/storage's overlay driver keeps its home bind-mounted onto itself; the test process's
        // private mount namespace holds it until it is unmounted here.
        for (const char* sub : {"storage/overlay", "storage/overlay-containers", "run"})
            ::umount2((dir / sub).c_str(), MNT_DETACH);
        for (const auto& root : cgroup_roots()) {
            ::rmdir((root + cgroup_parent + "/conmon").c_str());
            ::rmdir((root + cgroup_parent).c_str());
        }
    }
    std::vector<std::string> base() {
        return {"podman",          "--root",         dir / "storage", "--runroot",        dir / "run",
                "--tmpdir",        dir / "tmp",      "--runtime",     runtime,            "--cgroup-manager",
                "cgroupfs",        "--events-backend", "file",        "--storage-driver", "overlay"};
    }
    CommandResult podman(const std::vector<std::string>& args, const std::string& input = {}) {
        auto argv = base();
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, input);
    }
    // `podman run` with what this machine needs: no network, and limits at or below the current
    // hard ones (root here lacks CAP_SYS_RESOURCE, and podman's defaults are higher).
    CommandResult podman_run(const std::vector<std::string>& opts, const std::vector<std::string>& cmd,
                             const std::string& input = {}) {
        std::vector<std::string> args = {"run", "--network", "none", "--ulimit", "nofile=1024:1024",
                                         "--ulimit", "nproc=1000:1000", "--cgroup-parent", cgroup_parent};
        args.insert(args.end(), opts.begin(), opts.end());
        args.push_back(image);
        args.insert(args.end(), cmd.begin(), cmd.end());
        return podman(args, input);
    }
};

TEST_F(Podman, RunPassesStdioAndTheExitCode) {
    auto r = podman_run({"--rm", "-i"}, {"sh", "-c", "echo hi from lxbox; cat; exit 3"}, "piped\n");
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "hi from lxbox\npiped\n");
    // A missing command: 127 from the runtime reaches podman's caller.
    auto missing = podman_run({"--rm"}, {"/no/such/tool"});
    EXPECT_EQ(missing.exit_code, 127) << missing.err;
    // Nothing left behind.
    auto ps = podman({"ps", "--all", "--quiet"});
    EXPECT_EQ(ps.out, "");
}

TEST_F(Podman, DetachedContainerExecLimitsStopAndRemove) {
    auto r = podman_run({"-d", "--name", "web", "--memory", "64m", "--pids-limit", "50"}, {"sleep", "300"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto state = podman({"inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "web"});
    EXPECT_EQ(state.out.substr(0, 8), "running ") << state.out << state.err;

    // exec joins the container: it sees the container's pid 1 and its cgroup limits.
    auto ex = podman({"exec", "web", "sh", "-c",
                      "cat /proc/1/cmdline | tr '\\0' ' '; echo;"
                      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;"
                      "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, "sleep 300 \n67108864\n50\n");
    auto exit_code = podman({"exec", "web", "sh", "-c", "exit 7"});
    EXPECT_EQ(exit_code.exit_code, 7);

    // The engine reads the container's cgroup where the bundle placed it.
    auto stats = podman({"stats", "--no-stream", "--format", "{{.MemUsage}}", "web"});
    EXPECT_EQ(stats.exit_code, 0) << stats.err;
    EXPECT_NE(stats.out.find("67.11MB"), std::string::npos) << stats.out;
    auto top = podman({"top", "web", "args"});
    EXPECT_EQ(top.exit_code, 0) << top.err;
    EXPECT_NE(top.out.find("sleep 300"), std::string::npos) << top.out;

    // pause / unpause: the runtime's freezer, as podman reads it back.
    auto pause = podman({"pause", "web"});
    EXPECT_EQ(pause.exit_code, 0) << pause.err;
    EXPECT_EQ(podman({"inspect", "--format", "{{.State.Status}}", "web"}).out, "paused\n");
    auto unpause = podman({"unpause", "web"});
    EXPECT_EQ(unpause.exit_code, 0) << unpause.err;
    EXPECT_EQ(podman({"inspect", "--format", "{{.State.Status}}", "web"}).out, "running\n");

    // stop: SIGTERM (ignored by a pid 1 without a handler), then SIGKILL after the timeout.
    auto stop = podman({"stop", "--time", "1", "web"});
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    state = podman({"inspect", "--format", "{{.State.Status}}", "web"});
    EXPECT_EQ(state.out, "exited\n");
    // Started again from the same bundle, then removed for good.
    auto restart = podman({"start", "web"});
    EXPECT_EQ(restart.exit_code, 0) << restart.err;
    EXPECT_EQ(podman({"inspect", "--format", "{{.State.Status}}", "web"}).out, "running\n");
    auto rm = podman({"rm", "--force", "--time", "0", "web"});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_EQ(podman({"ps", "--all", "--quiet"}).out, "");
}

TEST_F(Podman, TerminalComesThroughTheConsoleSocket) {
    // -t: conmon hands lxbox a console socket and gets the pty master back over SCM_RIGHTS.
    auto r = podman_run({"--rm", "-t"}, {"sh", "-c", "tty; test -t 0 && test -t 1 && echo both; exit 4"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(r.out, "/dev/pts/0\r\nboth\r\n");
}

}  // namespace
}  // namespace lxbox::test
