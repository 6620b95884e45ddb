// The fixture of the `lxbox oci` e2e tests (oci_test.cpp, oci_client_test.cpp): a bundle of
// the busybox rootfs with runc's default config, a private --root, and the verbs run as an
// engine runs them.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/test_support.hpp"

extern char** environ;

namespace lxbox::test {

using nlohmann::json;

// The config `runc spec` writes (runtime-spec 1.0.2), with the command replaced.
inline json default_config(const std::vector<std::string>& args) {
    const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    return {
        {"ociVersion", "1.0.2-dev"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", args},
          {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
          {"cwd", "/"},
          {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
          {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "ocibox"},
        {"mounts",
         {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
          {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"},
           {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
          {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"},
           {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
          {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"},
           {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
          {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"},
           {"options", {"nosuid", "noexec", "nodev"}}},
          {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"},
           {"options", {"nosuid", "noexec", "nodev", "ro"}}},
          {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
           {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
          {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "nodev"}}}}},
        {"linux",
         {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
          {"namespaces", {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}},
                          {{"type", "mount"}}, {{"type", "cgroup"}}}},
          {"maskedPaths", {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                           "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                           "/proc/scsi"}},
          {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
}

inline std::string text_of(const std::string& path) {
    auto t = read_file(path);
    return t ? *t : std::string();
}

class OciCli : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string state = dir / "state";
    std::string bundle = dir / "bundle";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts, cgroups)");
        ASSERT_EQ(::mkdir(bundle.c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((bundle + "/rootfs").c_str(), 0755), 0);
        auto t = run({"tar", "-xf", busybox_tarball(), "-C", bundle + "/rootfs"});
        ASSERT_EQ(t.exit_code, 0) << t.err;
        ASSERT_EQ(::chmod((bundle + "/rootfs").c_str(), 0755), 0);  // entered as other users too
        // Like conmon: the containers `create` leaves behind become our children when it exits.
        ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    }
    void TearDown() override {
        for (const auto& id : {"c1", "c2", "dup"}) run_oci({"delete", "--force", id});
        reap();
        ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    }
    void reap() {
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
    }
    void write_config(const json& config) {
        UniqueFd fd(::open((bundle + "/config.json").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        ASSERT_TRUE(write_all(fd.get(), config.dump()).ok());
    }
    std::vector<std::string> oci_argv(const std::vector<std::string>& args) {
        std::vector<std::string> full = {LXBOX_BINARY, "oci", "--root", state};
        full.insert(full.end(), args.begin(), args.end());
        return full;
    }
    CommandResult run_oci(const std::vector<std::string>& args, const std::string& input = {}) {
        return run(oci_argv(args), input);
    }
    // For verbs that leave the container running: its stdio are files, not run()'s pipes
    // (which would stay open as long as the container does).
    CommandResult run_detached(const std::vector<std::string>& args) {
        auto full = oci_argv(args);
        std::vector<char*> argv;
        for (auto& a : full) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string out = dir / "out", err = dir / "err";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        pid_t pid = 0;
        EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        int status = 0;
        ::waitpid(pid, &status, 0);
        CommandResult r;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = text_of(out);
        r.err = text_of(err);
        return r;
    }
    // A tmpfs named source mounted at target by a process in the mount namespace of pid (setns
    // enters its root too), as the container would mount it.
    static bool mount_tmpfs_inside(const std::string& pid, const std::string& source, const std::string& target) {
        const pid_t child = ::fork();
        if (child == 0) {
            const int ns = ::open(("/proc/" + pid + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
            ::_exit(ns >= 0 && ::setns(ns, CLONE_NEWNS) == 0 &&
                            ::mount(source.c_str(), target.c_str(), "tmpfs", 0, nullptr) == 0
                        ? 0
                        : 1);
        }
        int status = 0;
        return ::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    json state_of(const std::string& id) {
        auto r = run_oci({"state", id});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.exit_code == 0 ? json::parse(r.out) : json();
    }
    bool wait_status(const std::string& id, const std::string& status) {
        for (int i = 0; i < 500; ++i) {
            reap();  // the container's process is our child now: a zombie until reaped
            if (state_of(id)["status"] == status) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }
    // What the container says, run in the foreground.
    std::string output(const std::string& script, json config = nullptr) {
        if (config.is_null()) config = default_config({"sh", "-c", script});
        config["process"]["args"] = {"sh", "-c", script};
        write_config(config);
        auto r = run_oci({"run", "-b", bundle, "c1"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.err, "");
        return r.out;
    }
};

}  // namespace lxbox::test
