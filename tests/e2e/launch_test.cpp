// `lxbox launch / exec / ps / stop / rm` as a user types them, on the embedded busybox distro.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "runtime/cgroups/cgroup.hpp"
#include "tests/common/test_support.hpp"

extern char** environ;

namespace lxbox::test {
namespace {

class LaunchCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";
    std::vector<pid_t> spawned;

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
    }
    void TearDown() override {
        for (pid_t p : spawned) {
            ::kill(p, SIGKILL);
            ::waitpid(p, nullptr, 0);
        }
    }
    // Starts argv in the background (stdio to /dev/null); killed at the end of the test.
    pid_t spawn_argv(std::vector<std::string> full) {
        std::vector<char*> argv;
        for (auto& a : full) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        for (int fd = 0; fd < 3; ++fd) posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
        pid_t pid = 0;
        EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        spawned.push_back(pid);
        return pid;
    }
    // lxbox with args, in the background.
    pid_t spawn(const std::vector<std::string>& args) {
        std::vector<std::string> full = {LXBOX_BINARY, "--root", root};
        full.insert(full.end(), args.begin(), args.end());
        return spawn_argv(std::move(full));
    }
    pid_t spawn_shell(const std::string& script) { return spawn_argv({"/bin/sh", "-c", script}); }
    nlohmann::json ps_entry(const std::string& name) { return test::ps_entry(root, name); }
    bool wait_state(const std::string& name, const std::string& state) {
        for (int i = 0; i < 500; ++i) {
            auto e = ps_entry(name);
            if (!e.is_null() && e["state"] == state) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
};

TEST_F(LaunchCli, RmRunsACommandAndPassesItsStatus) {
    auto r = run_lxbox(root, {"launch", "--rm", "--", "/bin/sh", "-c", "echo hi; hostname; exit 5"});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_EQ(r.out, "hi\nbusybox\n");
    auto r2 = run_lxbox(root, {"launch", "busybox", "--rm", "-T", "--", "nope"});
    EXPECT_EQ(r2.exit_code, 127);
    EXPECT_EQ(r2.err, "lxbox: exec nope: No such file or directory\n");
    EXPECT_EQ(run_lxbox(root, {"launch", "--rm", "--", "/bin/sh", "-c", "kill -9 $$"}).exit_code, 137);
}

TEST_F(LaunchCli, DefaultContainerPersistsNamedAndThrowawayOnesAreSeparate) {
    EXPECT_EQ(run_lxbox(root, {"launch", "busybox", "--", "sh", "-c", "echo kept > /etc/kept"}).exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"launch", "--", "cat", "/etc/kept"}).out, "kept\n");
    EXPECT_EQ(run_lxbox(root, {"launch", "busybox", "--name", "other", "--", "sh", "-c",
                               "cat /etc/kept 2>/dev/null || echo clean"}).out, "clean\n");
    EXPECT_EQ(run_lxbox(root, {"launch", "--rm", "--", "sh", "-c", "cat /etc/kept 2>/dev/null || echo clean"}).out,
              "clean\n");
    EXPECT_EQ(run_lxbox(root, {"launch", "other", "--", "hostname"}).out, "other\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "busybox"}).exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"launch", "--", "sh", "-c", "cat /etc/kept 2>/dev/null || echo reset"}).out, "reset\n");
}

TEST_F(LaunchCli, ProcessOptionsReachTheCommand) {
    const std::string shared = dir / "shared";
    ::mkdir(shared.c_str(), 0755);
    auto r = run_lxbox(root, {"launch", "--rm", "-u", "65534:65534", "-e", "A=1", "--hostname", "h", "--network",
                              "none", "-v", shared + ":/s:ro", "--", "sh", "-c",
                              "id -u; echo $A; hostname; ls /sys/class/net; touch /s/x 2>/dev/null || echo ro"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "65534\n1\nh\nlo\nro\n");
}

TEST_F(LaunchCli, ShareCwdStartsInTheSameDirectory) {
    const std::string shared = dir / "work";
    ::mkdir(shared.c_str(), 0755);
    auto r = run({"/bin/sh", "-c", "cd " + shared + " && " + LXBOX_BINARY + " --root " + root +
                                       " launch --rm --share-cwd -- sh -c 'pwd; touch made-inside'"});
    EXPECT_EQ(r.out, shared + "\n") << r.err;
    EXPECT_EQ(::access((shared + "/made-inside").c_str(), F_OK), 0);
}

TEST_F(LaunchCli, PsTellsTheTruthAfterKillMinus9OfLxboxOrOfTheContainer) {
    spawn({"launch", "busybox", "--name", "victim", "--", "sleep", "100"});
    ASSERT_TRUE(wait_state("victim", "running"));
    auto e = ps_entry("victim");
    EXPECT_EQ(e["image"], "busybox");
    EXPECT_EQ(e["backend"], "native");
    EXPECT_EQ(e["command"], nlohmann::json({"sleep", "100"}));
    ::kill(e["pid"].get<pid_t>(), SIGKILL);  // the container's init
    EXPECT_TRUE(wait_state("victim", "stopped"));

    const pid_t launcher = spawn({"launch", "victim", "--", "sleep", "100"});
    ASSERT_TRUE(wait_state("victim", "running"));
    ::kill(launcher, SIGKILL);  // lxbox itself: its container dies with it, the state file stays
    EXPECT_TRUE(wait_state("victim", "stopped"));
    EXPECT_TRUE(ps_entry("victim")["pid"].is_null());
    // rm also removes the cgroup the killed launcher could not (named with the store's id).
    const std::string find = "find /sys/fs/cgroup -maxdepth 5 -name 'lxbox-*-victim' | grep .";
    EXPECT_EQ(run({"sh", "-c", find}).exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"rm", "victim"}).exit_code, 0);
    EXPECT_NE(run({"sh", "-c", find}).exit_code, 0);
}

// Two stores of one user (two --root) share the place of their cgroups: a container "web" in
// each must still get its own cgroup, so that the second store's launch of its "web" works
// while the first one's runs, and its `rm web` (which removes what a killed launcher left)
// cannot reach the first store's running container.
TEST_F(LaunchCli, TwoStoresWithAContainerOfOneNameKeepTheirCgroupsApart) {
    spawn({"launch", "busybox", "--name", "web", "--", "sleep", "100"});
    ASSERT_TRUE(wait_state("web", "running"));
    const std::string other = dir / "other-store";
    auto launched = run_lxbox(other, {"launch", "busybox", "--name", "web", "--", "true"});
    EXPECT_EQ(launched.exit_code, 0) << launched.err;
    auto removed = run_lxbox(other, {"rm", "web"});
    EXPECT_EQ(removed.exit_code, 0) << removed.err;
    // Still running: its namespaces can be joined (a killed init's are gone).
    auto joined = run_lxbox(root, {"exec", "web", "--", "sh", "-c", "ps -o comm | grep -q sleep && echo alive"});
    EXPECT_EQ(joined.exit_code, 0) << joined.err;
    EXPECT_EQ(joined.out, "alive\n");
    EXPECT_EQ(ps_entry("web")["state"], "running");
    EXPECT_EQ(run_lxbox(root, {"stop", "web", "-t", "0"}).exit_code, 0);
    EXPECT_TRUE(wait_state("web", "stopped"));
    EXPECT_EQ(run_lxbox(root, {"rm", "web"}).exit_code, 0);
}

TEST_F(LaunchCli, ExecJoinsAndStopEndsARunningContainer) {
    spawn({"launch", "busybox", "--name", "svc", "--hostname", "svc-host", "--", "sleep", "100"});
    ASSERT_TRUE(wait_state("svc", "running"));
    auto r = run_lxbox(root, {"exec", "svc", "--", "sh", "-c", "hostname; ps -o comm | grep -c sleep"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "svc-host\n1\n");
    EXPECT_EQ(run_lxbox(root, {"exec", "svc", "--", "sh", "-c", "exit 9"}).exit_code, 9);
    // A second launch of a running container opens another process in it, as wsl does.
    EXPECT_EQ(run_lxbox(root, {"launch", "svc", "--", "hostname"}).out, "svc-host\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "svc"}).exit_code, 125);  // running: refused
    EXPECT_EQ(run_lxbox(root, {"stop", "svc", "-t", "5"}).exit_code, 0);
    EXPECT_TRUE(wait_state("svc", "stopped"));
    EXPECT_NE(run_lxbox(root, {"exec", "svc", "--", "true"}).exit_code, 0);
    EXPECT_EQ(run_lxbox(root, {"rm", "svc"}).exit_code, 0);
    EXPECT_TRUE(ps_entry("svc").is_null());
}

TEST_F(LaunchCli, MemoryLimitOomKillIsReportedAndTheStatusIs137) {
    // tail -c buffers 60 MiB of a pipe: over a 32 MiB limit (no swap), the kernel kills it.
    auto r = run_lxbox(root, {"launch", "--rm", "--memory", "32m", "--", "sh", "-c",
                              "head -c 100m /dev/zero | tail -c 60m >/dev/null"});
    EXPECT_EQ(r.exit_code, 137) << r.err;
    EXPECT_NE(r.err.find("lxbox: out of memory: the kernel killed a process of the container at its memory "
                         "limit (raise --memory)\n"),
              std::string::npos)
        << r.err;
    // Work that fits in the same limit: no report. (busybox tail -c is quadratic: keep it small.)
    auto ok = run_lxbox(root, {"launch", "--rm", "--memory", "32m", "--", "sh", "-c",
                               "head -c 8m /dev/zero | tail -c 4m | wc -c"});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(ok.out, "4194304\n");
    EXPECT_EQ(ok.err, "");
}

// --memory and the VM's config read sizes with one parser (docker's): "1.5g" was refused here
// while the cgroup code took it.
TEST_F(LaunchCli, MemoryTakesAFractionalSizeAsDockerDoes) {
    // The container's own cgroup, seen through a cgroup mount of its own (v2, else v1's memory).
    auto r = run_lxbox(root, {"launch", "--rm", "--privileged", "--memory", "1.5g", "--", "sh", "-c",
                              "mkdir -p /tmp/cg; (mount -t cgroup2 none /tmp/cg && cat /tmp/cg/memory.max) 2>/dev/null || "
                              "{ umount /tmp/cg 2>/dev/null; mount -t cgroup -o memory none /tmp/cg && "
                              "cat /tmp/cg/memory.limit_in_bytes; }"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "1610612736\n");
    auto bad = run_lxbox(root, {"launch", "--rm", "--memory", "1.5", "--", "true"});
    EXPECT_EQ(bad.exit_code, 125);
    EXPECT_NE(bad.err.find("invalid memory size '1.5': a number of bytes must be whole\n"), std::string::npos) << bad.err;
}

// A command killed at the memory limit fails with 137 and the report above; when a process of
// the container is killed but the command itself goes on and succeeds, lxbox says what happened
// without calling it a failure.
TEST_F(LaunchCli, AProcessKilledAtTheMemoryLimitIsReportedWithoutFailingTheCommand) {
    auto r = run_lxbox(root, {"launch", "--rm", "--memory", "32m", "--", "sh", "-c",
                              "head -c 100m /dev/zero | tail -c 60m >/dev/null; echo went on"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "went on\n");
    // (The shell says "Killed" of its pipeline first.)
    EXPECT_TRUE(r.err.ends_with("\nlxbox: warning: the kernel killed a process of the container at its memory limit "
                                "(out of memory); the command itself went on and exited 0\n"))
        << r.err;
    EXPECT_EQ(r.err.find("lxbox: out of memory"), std::string::npos) << r.err;
}

// --env-file takes a regular file of at most 2 MiB: a device would be read for ever (/dev/zero
// grew lxbox to gigabytes) and a fifo would block. ulimit -v and timeout keep a regression
// from eating the machine or hanging the suite.
TEST_F(LaunchCli, EnvFileMustBeASmallRegularFile) {
    const std::string fifo = dir / "fifo", big = dir / "big.env";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    { std::ofstream(big) << "A=1\n"; }
    ASSERT_EQ(::truncate(big.c_str(), 3 << 20), 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // ASan and TSan reserve terabytes of address space for their shadow at start: no ulimit -v
    // under them (the default build's pass bounds the memory; timeout still bounds a hang).
    const std::string limit;
#else
    const std::string limit = "ulimit -v 1048576; ";
#endif
    auto bounded = [&](const std::string& file) {
        return run({"sh", "-c", limit + "exec timeout 20 " + std::string(LXBOX_BINARY) + " --root " + root +
                                    " launch --rm --env-file " + file + " -- true"});
    };
    auto zero = bounded("/dev/zero");
    EXPECT_EQ(zero.exit_code, 125) << zero.err;
    EXPECT_EQ(zero.err, "lxbox: --env-file /dev/zero: not a regular file\n");
    auto pipe = bounded(fifo);
    EXPECT_EQ(pipe.exit_code, 125) << pipe.err;
    EXPECT_EQ(pipe.err, "lxbox: --env-file " + fifo + ": not a regular file\n");
    auto large = bounded(big);
    EXPECT_EQ(large.exit_code, 125) << large.err;
    EXPECT_EQ(large.err, "lxbox: --env-file " + big + ": larger than 2 MiB\n");
}

// -e and --env-file read a variable the same way: K=V as it is, K alone from lxbox's own
// environment, and no name ("=V") refused by both.
TEST_F(LaunchCli, EnvArgumentsAndEnvFilesFollowOneRule) {
    const std::string file = dir / "vars.env", nameless = dir / "nameless.env";
    { std::ofstream(file) << "# comment\nFROM_FILE=1\nFROM_HOST\nUNSET_ON_HOST\n"; }
    { std::ofstream(nameless) << "A=1\n=value\n"; }
    auto r = run({LXBOX_BINARY, "--root", root, "launch", "--rm", "--env-file", file, "-e", "ALSO_HOST", "--", "sh",
                  "-c", "echo $FROM_FILE $FROM_HOST $ALSO_HOST; env | grep -c UNSET_ON_HOST"},
                 "", {"FROM_HOST=h", "ALSO_HOST=a"});
    EXPECT_EQ(r.out, "1 h a\n0\n") << r.err;
    auto arg = run_lxbox(root, {"launch", "--rm", "-e", "=value", "--", "true"});
    EXPECT_EQ(arg.exit_code, 125);
    EXPECT_EQ(arg.err, "lxbox: -e '=value': no variable name\n");
    auto line = run_lxbox(root, {"launch", "--rm", "--env-file", nameless, "--", "true"});
    EXPECT_EQ(line.exit_code, 125);
    EXPECT_EQ(line.err, "lxbox: --env-file " + nameless + ": line 2: '=value': no variable name\n");
}

// A cgroup of the test's own below this process's own, in every hierarchy mounted: lxbox run
// from it makes its "lxbox" parent group there, apart from those of the tests beside this one.
class TestCgroup {
public:
    TestCgroup() {
        const auto mounts = cgroups::parse_cgroup_mounts(read_file("/proc/self/mountinfo").value());
        const auto own = cgroups::parse_proc_cgroup(read_file("/proc/self/cgroup").value());
        std::set<std::string> seen;
        auto add = [&](const std::string& key, const std::string& mountpoint) {
            if (mountpoint.empty() || !own.count(key) || !seen.insert(mountpoint).second) return;
            const auto root = mounts.roots.count(mountpoint) ? mounts.roots.at(mountpoint) : std::string("/");
            auto parent = cgroups::dir_in_mount(mountpoint, root, own.at(key));
            if (!parent) return;
            const std::string dir = *parent + "/lxbox-e2e-parents-" + std::to_string(::getpid());
            if (::mkdir(dir.c_str(), 0755) != 0) return;
            // A new v1 cpuset group has no CPUs: nothing could join it.
            for (const char* f : {"cpuset.cpus", "cpuset.mems"})
                if (auto v = read_file(*parent + "/" + f)) std::ofstream(dir + "/" + f) << *v << std::flush;
            dirs_.push_back(dir);
        };
        for (const auto& [controller, mountpoint] : mounts.v1_controllers) add(controller, mountpoint);
        add("", mounts.v2_path);
    }
    ~TestCgroup() {
        // Whatever a failed test left: its processes killed, its groups removed, deepest first.
        for (const auto& d : dirs_)
            run({"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do find " + d + " -depth -type d | while read g; do "
                             "xargs -r kill -9 <$g/cgroup.procs 2>/dev/null; rmdir $g 2>/dev/null; done; "
                             "[ -d " + d + " ] || exit 0; sleep 0.2; done"});
    }
    TestCgroup(const TestCgroup&) = delete;
    TestCgroup& operator=(const TestCgroup&) = delete;
    // Shell words that move the shell into the test's groups (then `exec lxbox ...`).
    std::string enter() const {
        std::string s;
        for (const auto& d : dirs_) s += "echo $$ >" + d + "/cgroup.procs && ";
        return s;
    }
    // The "lxbox" parent groups that exist below the test's groups.
    std::string lxbox_parents() const {
        std::string out;
        for (const auto& d : dirs_)
            if (::access((d + "/lxbox").c_str(), F_OK) == 0) out += d + "/lxbox\n";
        return out;
    }
    size_t size() const { return dirs_.size(); }

private:
    std::vector<std::string> dirs_;
};

// The "lxbox" group that holds the containers' cgroups goes with the last of them, in every
// hierarchy (v1's memory, pids and devices, the unified tree): none stays behind empty.
TEST_F(LaunchCli, TheLxboxParentCgroupGoesWithTheLastContainer) {
    TestCgroup here;
    ASSERT_GT(here.size(), 0u);
    const std::string lxbox = std::string(LXBOX_BINARY) + " --root " + root + " ";
    auto in_here = [&](const std::string& args) { return run({"sh", "-c", here.enter() + "exec " + lxbox + args}); };
    // Limits reach the v1 controllers (on a v2-only host lxbox would need a delegated group).
    const bool v1_memory = cgroups::parse_cgroup_mounts(read_file("/proc/self/mountinfo").value())
                               .v1_controllers.count("memory") > 0;
    const std::string limits = v1_memory ? "--memory 64m --pids-limit 50 " : "";
    auto r = in_here("launch --rm " + limits + "-- true");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(here.lxbox_parents(), "");
    r = in_here("launch busybox --name kept " + limits + "-- true");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(here.lxbox_parents(), "");

    // While one container runs, another's exit leaves the parent to it; it goes with the last.
    const pid_t first = spawn_shell(here.enter() + "exec " + lxbox + "launch kept -- sleep 100");
    ASSERT_TRUE(wait_state("kept", "running"));
    r = in_here("launch --rm " + limits + "-- true");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(here.lxbox_parents(), "");
    EXPECT_EQ(run_lxbox(root, {"stop", "kept", "-t", "0"}).exit_code, 0);
    int status = 0;
    EXPECT_EQ(::waitpid(first, &status, 0), first);
    spawned.clear();
    EXPECT_EQ(here.lxbox_parents(), "");
    EXPECT_EQ(run_lxbox(root, {"rm", "kept"}).exit_code, 0);

    // An OCI container without a cgroupsPath has its cgroup at the same place.
    const std::string bundle = dir / "bundle";
    ASSERT_EQ(run({"mkdir", "-p", bundle + "/rootfs"}).exit_code, 0);
    ASSERT_EQ(run({"tar", "-xf", busybox_tarball(), "-C", bundle + "/rootfs"}).exit_code, 0);
    {
        std::ofstream(bundle + "/config.json") << nlohmann::json{
            {"ociVersion", "1.0.2"},
            {"process", {{"user", {{"uid", 0}, {"gid", 0}}}, {"args", {"/bin/true"}}, {"cwd", "/"}}},
            {"root", {{"path", "rootfs"}}},
            {"linux", {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}}}}}};
    }
    r = run({"sh", "-c", here.enter() + "exec " + LXBOX_BINARY + " oci --root " + dir / "oci" + " run -b " + bundle + " c1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(here.lxbox_parents(), "");
}

// The cgroups of throwaway containers of image `image`, whatever the layout (v1 hierarchies,
// v2, hybrid); other tests running in parallel make their own, under other image names.
std::string rm_cgroups_of(const std::string& image) {
    return run({"sh", "-c", "find /sys/fs/cgroup -maxdepth 6 -type d -name 'lxbox-*-.rm-*-" + image + "' | sort"}).out;
}

TEST_F(LaunchCli, TwoHundredThrowawayContainersLeaveNothingBehind) {
    const std::string tar = std::string(LXBOX_BUILD_DIR) + "/distro-images/busybox-rootfs.tar";
    ASSERT_EQ(run_lxbox(root, {"import", "leakcheck", tar}).exit_code, 0);
    const std::string mounts = read_file("/proc/self/mountinfo").value();
    const std::string fds = open_fds();
    for (int i = 0; i < 200; ++i) {
        auto r = run_lxbox(root, {"launch", "leakcheck", "--rm", "--memory", "64m", "--pids-limit", "50", "--", "true"});
        ASSERT_EQ(r.exit_code, 0) << "run " << i << ": " << r.err;
    }
    EXPECT_EQ(read_file("/proc/self/mountinfo").value(), mounts);
    EXPECT_EQ(rm_cgroups_of("leakcheck"), "");
    EXPECT_EQ(open_fds(), fds);
    // No lxbox process of this store left (the [l] keeps pgrep from matching its own shell).
    EXPECT_EQ(run({"sh", "-c", "pgrep -f '[l]xbox --root " + root + "' || true"}).out, "");
    EXPECT_EQ(run({"ls", "-A", root + "/containers"}).out, "");
}

}  // namespace
}  // namespace lxbox::test
