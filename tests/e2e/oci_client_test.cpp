// `lxbox oci` as containerd's runc shim and CRI drive it (issue 23's findings): a waiting
// container holds nothing of its caller's, a kill of a stopped container is runc's, an exec's
// pid is its command, update/events/list/--version, create-time errors, HOME and PATH.
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sstream>

#include "runtime/linux/pty.hpp"
#include "tests/e2e/oci_fixture.hpp"

namespace lxbox::test {
namespace {

// Runs the verb with stdout and stderr on a pipe, as containerd's shim runs `create` for a
// terminal: the pipe must reach its end once lxbox exits (a waiting container holding it hangs
// the shim). Returns whether it did, within a bound far above a create's time.
bool output_ends(const std::vector<std::string>& argv, std::string& text) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    UniqueFd rd(fds[0]), wr(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    wr.reset();
    if (spawned != 0) return false;
    bool ended = false;
    char buf[256];
    for (;;) {
        struct pollfd p{rd.get(), POLLIN, 0};
        if (::poll(&p, 1, 20000) != 1) break;
        const ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n <= 0) {
            ended = n == 0;
            break;
        }
        text.append(buf, static_cast<size_t>(n));
    }
    ::waitpid(pid, nullptr, 0);
    return ended;
}

// The fds of a process, as their /proc links read ("N -> target"), by number.
std::vector<std::string> fd_targets(int pid) {
    std::vector<std::string> out;
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char target[512] = {};
        const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
        out.push_back(std::string(e->d_name) + " -> " + (n > 0 ? std::string(target, static_cast<size_t>(n)) : "?"));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return std::stoi(a) < std::stoi(b); });
    return out;
}

class OciClient : public OciCli {
protected:
    // A console socket whose accepted pty master lands in master.
    std::string sock_path = dir / "console.sock";
    UniqueFd server, master;
    std::thread accepter;

    void listen_console() {
        server.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        struct sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, sock_path.c_str());
        ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ASSERT_EQ(::listen(server.get(), 1), 0);
        accepter = std::thread([this] {
            struct pollfd p{server.get(), POLLIN, 0};
            if (::poll(&p, 1, 20000) != 1) return;
            UniqueFd conn(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!conn) return;
            if (auto got = linux_fx::recv_fd(conn.get())) master = std::move(*got);
        });
    }
    void TearDown() override {
        if (accepter.joinable()) accepter.join();
        OciCli::TearDown();
    }
    int pid_of(const std::string& id) { return state_of(id)["pid"].get<int>(); }
};

TEST_F(OciClient, AWaitingTerminalContainerHoldsOnlyItsPty) {
    json config = default_config({"sh", "-c", "tty; echo HOME=$HOME"});
    config["process"]["terminal"] = true;
    write_config(config);
    listen_console();
    std::string text;
    // runc's pipe closes at once; lxbox's stayed open while the container waited for `start`.
    EXPECT_TRUE(output_ends(oci_argv({"create", "-b", bundle, "--console-socket", sock_path, "c1"}), text)) << text;
    accepter.join();
    ASSERT_EQ(state_of("c1")["status"], "created") << text;
    ASSERT_TRUE(master);
    // 0-2 the pty; besides them only the exec stub and the exec fifo's directory.
    const auto fds = fd_targets(pid_of("c1"));
    ASSERT_EQ(fds.size(), 5u) << ::testing::PrintToString(fds);
    for (const char* fd : {"0", "1", "2"})
        EXPECT_EQ(fds[static_cast<size_t>(fd[0] - '0')].rfind(std::string(fd) + " -> /dev/pts/", 0), 0u)
            << ::testing::PrintToString(fds);
    EXPECT_NE(fds[3].find("/memfd:lxbox-exec"), std::string::npos) << fds[3];
    EXPECT_EQ(fds[4].substr(fds[4].find(" -> ") + 4), state + "/c1") << fds[4];
    ASSERT_EQ(run_oci({"start", "c1"}).exit_code, 0);
    std::string out;
    char buf[256];
    ssize_t n;
    struct pollfd p{master.get(), POLLIN, 0};
    while (out.find("HOME=/root") == std::string::npos && ::poll(&p, 1, 20000) == 1 &&
           (n = ::read(master.get(), buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    EXPECT_NE(out.find("/dev/pts/0"), std::string::npos) << out;
    EXPECT_NE(out.find("HOME=/root"), std::string::npos) << out;  // runc's HOME from /etc/passwd
}

TEST_F(OciClient, AWaitingContainerKeepsNoFdOfTheCallerBeyondItsStdio) {
    write_config(default_config({"true"}));
    // An fd the caller left inheritable (a shim's, an engine's): runc's init never has it.
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    UniqueFd rd(fds[0]), wr(fds[1]);
    auto created = run_detached({"create", "-b", bundle, "c1"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    for (const auto& fd : fd_targets(pid_of("c1")))
        EXPECT_EQ(fd.find("pipe:"), std::string::npos) << ::testing::PrintToString(fd_targets(pid_of("c1")));
    wr.reset();
    struct pollfd p{rd.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 1);  // the pipe's end: no one else holds its write side
}

TEST_F(OciClient, KillOfAStoppedContainerIsRuncs) {
    write_config(default_config({"true"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    ASSERT_TRUE(wait_status("c1", "stopped"));
    // containerd's shim knows the task exited by these words; with --all, runc exits 0.
    auto all = run_oci({"kill", "--all", "c1", "KILL"});
    EXPECT_EQ(all.exit_code, 0);
    EXPECT_EQ(all.err, "lxbox: container not running\n");
    auto one = run_oci({"kill", "c1", "TERM"});
    EXPECT_NE(one.exit_code, 0);
    EXPECT_EQ(one.err, "lxbox: container not running\n");
    auto none = run_oci({"kill", "--all", "never-made", "KILL"});
    EXPECT_NE(none.exit_code, 0);
    EXPECT_EQ(none.err, "lxbox: kill never-made: container 'never-made' does not exist\n");
}

TEST_F(OciClient, ADetachedExecsPidIsItsCommand) {
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    auto d = run_detached({"exec", "-d", "--pid-file", dir / "exec.pid", "c1", "--", "sleep", "31"});
    ASSERT_EQ(d.exit_code, 0) << d.err;
    const int pid = std::stoi(text_of(dir / "exec.pid"));
    std::string cmdline = text_of("/proc/" + std::to_string(pid) + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    EXPECT_EQ(cmdline, "sleep 31 ");
    // Our child (the caller's subreaper, as the shim is): a KILL to that pid ends the command.
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    auto ps = run_oci({"ps", "--format", "json", "c1"});
    EXPECT_EQ(json::parse(ps.out), json::array({pid_of("c1")})) << ps.out;
}

TEST_F(OciClient, WhatCanFailFailsInCreate) {
    // No PATH in the spec: a bare command is not found, as runc's; an absolute one runs, with
    // HOME from /etc/passwd and a missing cwd made (runc's).
    json config = default_config({"sh", "-c", "true"});
    config["process"]["env"] = {"TERM=xterm"};
    write_config(config);
    auto bare = run_detached({"create", "-b", bundle, "c1"});
    EXPECT_NE(bare.exit_code, 0);
    EXPECT_EQ(bare.err, "lxbox: create c1: exec: \"sh\": executable file not found in $PATH\n");
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);  // nothing left
    config["process"]["args"] = {"/bin/sh", "-c", "echo $HOME $PATH; pwd"};
    config["process"]["cwd"] = "/made/for/it";
    write_config(config);
    auto r = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "/root /sbin:/usr/sbin:/bin:/usr/bin\n/made/for/it\n");  // busybox sh's own PATH
    // A lower oom_score_adj needs CAP_SYS_RESOURCE; root here may lack it (a container's root).
    config = default_config({"true"});
    config["process"]["oomScoreAdj"] = -998;
    write_config(config);
    const bool can_lower = is_root() && run({"sh", "-c", "echo -1 > /proc/self/oom_score_adj"}).exit_code == 0;
    auto oom = run_detached({"create", "-b", bundle, "c1"});
    if (can_lower) {
        EXPECT_EQ(oom.exit_code, 0) << oom.err;
        EXPECT_EQ(text_of("/proc/" + std::to_string(pid_of("c1")) + "/oom_score_adj"), "-998\n");
    } else {
        EXPECT_NE(oom.exit_code, 0);
        EXPECT_EQ(oom.err, "lxbox: create c1: set oom_score_adj -998: Permission denied\n");
        EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
    }
    run_oci({"delete", "-f", "c1"});
    // A hard limit above the kernel's nr_open fails for anyone, capability or not.
    config = default_config({"true"});
    config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"hard", 1ull << 40}, {"soft", 1024}}};
    write_config(config);
    auto nofile = run_detached({"create", "-b", bundle, "c1"});
    EXPECT_NE(nofile.exit_code, 0);
    EXPECT_EQ(nofile.err.rfind("lxbox: create c1: set rlimit 7: ", 0), 0u) << nofile.err;
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
}

TEST_F(OciClient, UpdateEventsListVersionAndCriu) {
    json config = default_config({"sleep", "60"});
    config["linux"]["resources"]["memory"] = {{"limit", 256 << 20}};
    config["linux"]["resources"]["pids"] = {{"limit", 100}};
    write_config(config);
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    auto stats = [&] {
        auto e = run_oci({"events", "--stats", "c1"});
        EXPECT_EQ(e.exit_code, 0) << e.err;
        return e.exit_code == 0 ? json::parse(e.out) : json();
    };
    json s = stats();
    EXPECT_EQ(s["type"], "stats");
    EXPECT_EQ(s["id"], "c1");
    EXPECT_EQ(s["data"]["memory"]["usage"]["limit"], 256 << 20);
    EXPECT_GT(s["data"]["memory"]["usage"]["usage"].get<uint64_t>(), 0u);
    EXPECT_EQ(s["data"]["pids"]["current"], 1);
    EXPECT_EQ(s["data"]["pids"]["limit"], 100);
    EXPECT_GT(s["data"]["cpu"]["usage"]["total_usage"].get<uint64_t>(), 0u);
    // runc's flags, then containerd's way: the resources JSON on stdin.
    auto flags = run_oci({"update", "--memory", "128m", "--pids-limit", "50", "c1"});
    ASSERT_EQ(flags.exit_code, 0) << flags.err;
    s = stats();
    EXPECT_EQ(s["data"]["memory"]["usage"]["limit"], 128 << 20);
    EXPECT_EQ(s["data"]["pids"]["limit"], 50);
    auto file = run_oci({"update", "-r", "-", "c1"}, json{{"memory", {{"limit", 64 << 20}}}, {"pids", {{"limit", 40}}}}.dump());
    ASSERT_EQ(file.exit_code, 0) << file.err;
    s = stats();
    EXPECT_EQ(s["data"]["memory"]["usage"]["limit"], 64 << 20);
    EXPECT_EQ(s["data"]["pids"]["limit"], 40);
    auto bad = run_oci({"update", "--memory", "lots", "c1"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_EQ(bad.err.rfind("lxbox: update c1: --memory: invalid memory size 'lots'", 0), 0u) << bad.err;
    // The stream: stats every interval, until the container stops. The container outlives the
    // start of `events` by a wide margin: 0.3 s did not under ASan on a loaded machine ("events
    // c2: container not running").
    write_config(default_config({"sleep", "3"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c2"}).exit_code, 0);
    auto stream = run_oci({"events", "--interval", "20ms", "c2"});
    EXPECT_EQ(stream.exit_code, 0) << stream.err;
    std::istringstream lines(stream.out);
    for (std::string line; std::getline(lines, line);) {
        json e = json::parse(line);
        EXPECT_EQ(e["type"], "stats");
        EXPECT_EQ(e["id"], "c2");
    }
    ASSERT_TRUE(wait_status("c2", "stopped"));
    // list: runc's table and JSON.
    auto table = run_oci({"list"});
    ASSERT_EQ(table.exit_code, 0) << table.err;
    EXPECT_EQ(table.out.rfind("ID          PID         STATUS      BUNDLE", 0), 0u) << table.out;
    EXPECT_NE(table.out.find("\nc1          " + std::to_string(pid_of("c1"))), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("\nc2          0           stopped     " + bundle), std::string::npos) << table.out;
    auto list = run_oci({"list", "--format", "json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    json l = json::parse(list.out);
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0]["id"], "c1");
    EXPECT_EQ(l[0]["status"], "running");
    EXPECT_EQ(l[0]["rootfs"], bundle + "/rootfs");
    EXPECT_EQ(l[0]["owner"], "root");
    EXPECT_EQ(l[1]["status"], "stopped");
    EXPECT_EQ(l[1]["pid"], 0);
    EXPECT_EQ(run_oci({"list", "-q"}).out, "c1\nc2\n");
    auto version = run_oci({"--version"});
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.out.rfind("lxbox-oci version ", 0), 0u) << version.out;
    auto checkpoint = run_oci({"checkpoint", "--image-path", dir / "img", "c1"});
    EXPECT_NE(checkpoint.exit_code, 0);
    EXPECT_EQ(checkpoint.err, "lxbox: checkpoint: not supported: lxbox has no CRIU support to checkpoint or restore containers\n");
}

// update keeps what it set in the container's state: `state` shows the resources, and a later
// update changes only what it names (a lone --cpu-period keeps the quota; cgroup v2 writes
// both in one file, so the quota was lost as "max" before).
TEST_F(OciClient, UpdateKeepsTheResourcesInTheState) {
    json config = default_config({"sleep", "60"});
    config["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
    config["linux"]["resources"]["memory"] = {{"limit", 256 << 20}};
    write_config(config);
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    EXPECT_EQ(state_of("c1")["resources"], json({{"cpu", {{"quota", 50000}, {"period", 100000}}},
                                                 {"memory", {{"limit", 256 << 20}}}}));
    auto period = run_oci({"update", "--cpu-period", "200000", "c1"});
    ASSERT_EQ(period.exit_code, 0) << period.err;
    auto memory = run_oci({"update", "-r", "-", "c1"}, json{{"memory", {{"limit", 128 << 20}}}}.dump());
    ASSERT_EQ(memory.exit_code, 0) << memory.err;
    EXPECT_EQ(state_of("c1")["resources"], json({{"cpu", {{"quota", 50000}, {"period", 200000}}},
                                                 {"memory", {{"limit", 128 << 20}}}}));
    // The cgroup holds the same, in either version.
    const json record = json::parse(text_of(state + "/c1/state.json"));
    int checked = 0;
    for (const auto& dir : record["cgroup_paths"]) {
        const std::string d = dir.get<std::string>();
        if (auto max = read_file(d + "/cpu.max")) {
            EXPECT_EQ(*max, "50000 200000\n");
            ++checked;
        }
        if (auto quota = read_file(d + "/cpu.cfs_quota_us")) {
            EXPECT_EQ(*quota, "50000\n");
            EXPECT_EQ(text_of(d + "/cpu.cfs_period_us"), "200000\n");
            ++checked;
        }
    }
    EXPECT_EQ(checked, 1) << record.dump();
    // A refused update changes nothing, in the cgroup or the state.
    EXPECT_NE(run_oci({"update", "--memory", "lots", "c1"}).exit_code, 0);
    EXPECT_EQ(state_of("c1")["resources"]["memory"]["limit"], 128 << 20);
}

// runc's exit codes: 1 for an error of any verb (a usage error included), 255 for exec's; the
// command's own status otherwise. Engines read them as runc's.
TEST_F(OciClient, ErrorsExitAsRuncs) {
    write_config(default_config({"/no/such/command"}));
    auto missing = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(missing.err, "lxbox: run c1: exec: \"/no/such/command\": stat /no/such/command: no such file or directory\n");
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);  // nothing left
    auto unknown = run_oci({"state", "c9"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_EQ(unknown.err, "lxbox: state c9: container 'c9' does not exist\n");
    EXPECT_EQ(run_oci({"state"}).exit_code, 1);
    EXPECT_EQ(run_oci({"--bogus", "state", "c1"}).exit_code, 1);
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    auto exec = run_oci({"exec", "c1", "--", "/no/such/command"});
    EXPECT_EQ(exec.exit_code, 255);
    EXPECT_NE(exec.err.find("exec c1: "), std::string::npos) << exec.err;
    EXPECT_EQ(run_oci({"exec", "c1"}).exit_code, 255);
    EXPECT_EQ(run_oci({"exec", "c1", "--", "sh", "-c", "exit 7"}).exit_code, 7);
    // And lxbox's own verbs keep docker's 125.
    EXPECT_EQ(run({LXBOX_BINARY, "--root", dir / "store", "rm", "nosuch"}).exit_code, 125);
}

}  // namespace
}  // namespace lxbox::test
