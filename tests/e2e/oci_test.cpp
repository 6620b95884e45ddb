// `lxbox oci` as an engine drives it (runc's command line): bundles of the busybox rootfs,
// create/start/state/kill/delete and run, hooks, the console socket, joined namespaces and the
// bundle's own security settings, each checked from inside the container.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/base/unique_fd.hpp"
#include "runtime/linux/pty.hpp"
#include "tests/common/test_support.hpp"
#include "tests/e2e/oci_fixture.hpp"

extern char** environ;

namespace lxbox::test {
namespace {

using nlohmann::json;

TEST_F(OciCli, RunPassesStdioExitCodeAndCleansUp) {
    write_config(default_config({"sh", "-c", "echo hi from $(hostname); read x; echo got $x; exit 3"}));
    auto r = run_oci({"run", "-b", bundle, "c1"}, "abc\n");
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(r.out, "hi from ocibox\ngot abc\n");
    EXPECT_EQ(r.err, "");
    // Nothing left: no state, so the id is free again.
    auto gone = run_oci({"state", "c1"});
    EXPECT_NE(gone.exit_code, 0);
    EXPECT_EQ(gone.err, "lxbox: state c1: container 'c1' does not exist\n");
    auto again = run_oci({"run", "-b", bundle, "c1"}, "x\n");
    EXPECT_EQ(again.exit_code, 3) << again.err;
    // A command that does not exist fails the create, in runc's words (podman turns them into 127).
    write_config(default_config({"/no/such/tool"}));
    auto missing = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("exec: \"/no/such/tool\": stat /no/such/tool: no such file or directory"),
              std::string::npos) << missing.err;
}

TEST_F(OciCli, CreateStartStateKillDelete) {
    write_config(default_config({"sleep", "60"}));
    auto created = run_detached({"create", "-b", bundle, "--pid-file", dir / "pid", "c1"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
    EXPECT_EQ(created.out, "");
    json s = state_of("c1");
    EXPECT_EQ(s["ociVersion"], "1.0.2-dev");
    EXPECT_EQ(s["id"], "c1");
    EXPECT_EQ(s["status"], "created");
    EXPECT_EQ(s["bundle"], bundle);
    ASSERT_TRUE(s["pid"].is_number());
    EXPECT_EQ(text_of(dir / "pid"), std::to_string(s["pid"].get<int>()));
    // Created: the process waits, nothing of the command runs yet.
    auto cmdline = text_of("/proc/" + std::to_string(s["pid"].get<int>()) + "/cmdline");
    EXPECT_EQ(cmdline.find("sleep"), std::string::npos);

    auto started = run_oci({"start", "c1"});
    ASSERT_EQ(started.exit_code, 0) << started.err;
    EXPECT_EQ(state_of("c1")["status"], "running");
    auto again = run_oci({"start", "c1"});
    EXPECT_NE(again.exit_code, 0);
    EXPECT_EQ(again.err, "lxbox: start c1: the container is running, not created\n");
    auto ps = run_oci({"ps", "--format", "json", "c1"});
    EXPECT_EQ(ps.exit_code, 0) << ps.err;
    EXPECT_EQ(json::parse(ps.out), json::array({s["pid"]}));

    auto refused = run_oci({"delete", "c1"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_EQ(refused.err, "lxbox: delete c1: the container is running (stop it first, or --force)\n");
    // sleep is the namespace's PID 1, which ignores TERM as it has no handler: KILL it.
    auto killed = run_oci({"kill", "c1", "KILL"});
    EXPECT_EQ(killed.exit_code, 0) << killed.err;
    EXPECT_TRUE(wait_status("c1", "stopped"));
    EXPECT_FALSE(state_of("c1").contains("pid"));
    auto late = run_oci({"kill", "c1", "KILL"});
    EXPECT_NE(late.exit_code, 0);
    auto deleted = run_oci({"delete", "c1"});
    EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
}

TEST_F(OciCli, DeleteForceKillsACreatedOrRunningContainer) {
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"create", "-b", bundle, "c1"}).exit_code, 0);
    const int pid = state_of("c1")["pid"].get<int>();
    auto deleted = run_oci({"delete", "--force", "c1"});
    EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
    reap();
    EXPECT_NE(::kill(pid, 0), 0);
    // run --detach: running at once.
    auto detached = run_detached({"run", "-d", "-b", bundle, "c2"});
    ASSERT_EQ(detached.exit_code, 0) << detached.err;
    EXPECT_EQ(state_of("c2")["status"], "running");
    EXPECT_EQ(run_oci({"delete", "-f", "c2"}).exit_code, 0);
    EXPECT_EQ(run_oci({"delete", "-f", "never-made"}).exit_code, 0);
}

TEST_F(OciCli, BadInputGetsOneLineAndLeavesNothing) {
    json config = default_config({"true"});
    config["process"]["cwd"] = "relative";
    write_config(config);
    auto r = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err, "lxbox: run c1: " + bundle + "/config.json: process.cwd: must be an absolute path\n");
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);

    auto bad_id = run_oci({"run", "-b", bundle, "../x"});
    EXPECT_EQ(bad_id.err, "lxbox: run ../x: container id '../x' may hold only letters, digits and _+-.\n");

    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"create", "-b", bundle, "dup"}).exit_code, 0);
    auto dup = run_detached({"create", "-b", bundle, "dup"});
    EXPECT_NE(dup.exit_code, 0);
    EXPECT_EQ(dup.err, "lxbox: create dup: container 'dup' already exists\n");
    EXPECT_EQ(state_of("dup")["status"], "created");  // the first one is untouched

    auto systemd = run_oci({"--systemd-cgroup", "run", "-b", bundle, "c1"});
    EXPECT_NE(systemd.exit_code, 0);
    EXPECT_NE(systemd.err.find("--systemd-cgroup"), std::string::npos);

    // A root that does not exist: the error names it, and no state or cgroup stays.
    config = default_config({"true"});
    config["root"]["path"] = "missing";
    write_config(config);
    auto noroot = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_NE(noroot.exit_code, 0);
    EXPECT_NE(noroot.err.find(bundle + "/missing"), std::string::npos) << noroot.err;
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
}

TEST_F(OciCli, TheBundlesSecuritySettingsHold) {
    // The capability sets and no_new_privs as the config says (runc's default: three caps).
    EXPECT_EQ(output("grep -E '^(CapEff|CapBnd|CapInh|NoNewPrivs|Seccomp):' /proc/self/status | cut -f2"),
              "0000000000000000\n0000000020000420\n0000000020000420\n1\n0\n");
    // Masked and read-only paths, a read-only root, a writable /tmp.
    EXPECT_EQ(output("cat /proc/timer_list | wc -c; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo ro-sys;"
                     "touch /x 2>/dev/null || echo ro-root; touch /tmp/x && echo tmp-ok"),
              "0\nro-sys\nro-root\ntmp-ok\n");
    // A seccomp filter from the config: mkdir refused with the errno asked for.
    json config = default_config({});
    config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"},
                                                 {"errnoRet", 13}}}}};
    EXPECT_EQ(output("grep '^Seccomp:' /proc/self/status | cut -f2; mkdir /tmp/d 2>&1 | grep -o 'Permission denied'",
                     config),
              "2\nPermission denied\n");
    // Another user, with its groups, umask and an rlimit. Past exec it keeps only its ambient
    // capabilities, and those only when inheritable too (as with runc).
    config = default_config({});
    config["process"]["user"] = {{"uid", 1234}, {"gid", 567}, {"additionalGids", {8, 9}}, {"umask", 63}};
    config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"hard", 512}, {"soft", 256}}};
    const std::string script = "id -u; id -g; id -G; umask; ulimit -n; ulimit -Hn; grep CapEff /proc/self/status | cut -f2";
    EXPECT_EQ(output(script, config), "1234\n567\n567 8 9\n0077\n256\n512\n0000000000000000\n");
    config["process"]["capabilities"]["inheritable"] = config["process"]["capabilities"]["ambient"];
    EXPECT_EQ(output(script, config), "1234\n567\n567 8 9\n0077\n256\n512\n0000000020000420\n");
    // sysctl and the uts namespace's hostname.
    config = default_config({});
    config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    EXPECT_EQ(output("cat /proc/sys/net/ipv4/ip_forward; hostname", config), "1\nocibox\n");
}

TEST_F(OciCli, CgroupLimitsAndTheCgroupMount) {
    json config = default_config({});
    config["linux"]["resources"]["memory"] = {{"limit", 64 * 1024 * 1024}};
    config["linux"]["resources"]["pids"] = {{"limit", 42}};
    // v2 (memory.max, pids.max at the root of the namespace) or v1 (one directory each).
    EXPECT_EQ(output("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
                     "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max;"
                     "touch /sys/fs/cgroup/x 2>/dev/null || echo ro",
                     config),
              "67108864\n42\nro\n");
}

// Where the container's process sits in the hierarchy holding `controller` (v1), or in the v2
// tree; and that hierarchy's directory on the host.
struct CgroupDir {
    std::string path, dir;
};
CgroupDir cgroup_of(pid_t pid, const std::string& controller) {
    const std::string text = text_of("/proc/" + std::to_string(pid) + "/cgroup");
    std::string v2;
    for (size_t b = 0; b < text.size();) {
        size_t e = text.find('\n', b);
        if (e == std::string::npos) e = text.size();
        const std::string line = text.substr(b, e - b);
        b = e + 1;
        const size_t c1 = line.find(':'), c2 = line.find(':', c1 + 1);
        const std::string names = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
        if (names.empty()) v2 = path;
        for (size_t nb = 0; nb <= names.size() && !names.empty();) {
            size_t ne = names.find(',', nb);
            if (ne == std::string::npos) ne = names.size();
            if (names.substr(nb, ne - nb) == controller) return {path, "/sys/fs/cgroup/" + names + path};
            nb = ne + 1;
        }
    }
    return {v2, "/sys/fs/cgroup" + v2};
}

// rmdir of the directories of `rel` below `base`, deepest first, in every hierarchy (a test's
// leftovers; nothing at or above base is touched).
void remove_cgroup_path(const std::string& base, const std::string& rel) {
    for (const auto& root : cgroup_roots())
        for (std::string p = rel; !p.empty() && p != "/"; p = p.substr(0, p.rfind('/'))) ::rmdir((root + base + p).c_str());
}

TEST_F(OciCli, CgroupsPathPlacesTheCgroupAndResourcesAreWritten) {
    const std::string top = "/lxbox-e2e-" + std::to_string(::getpid());
    const std::string path = top + "/pod/c1";
    struct Cleanup {
        std::string top;
        ~Cleanup() { remove_cgroup_path("", top + "/pod"); }
    } cleanup{top};
    json config = default_config({"sleep", "60"});
    config["linux"]["cgroupsPath"] = path;
    config["linux"]["resources"]["memory"] = {{"limit", 50593792}, {"reservation", 25165824}};
    config["linux"]["resources"]["cpu"] = {{"shares", 512}, {"quota", 30000}, {"period", 100000}, {"cpus", "0"}};
    config["linux"]["resources"]["pids"] = {{"limit", 77}};
    write_config(config);
    auto r = run_detached({"create", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const pid_t pid = state_of("c1")["pid"].get<pid_t>();

    // An absolute cgroupsPath is below each hierarchy's root, whatever cgroup we run in.
    const CgroupDir memory = cgroup_of(pid, "memory"), pids = cgroup_of(pid, "pids"), cpu = cgroup_of(pid, "cpu");
    EXPECT_EQ(memory.path, path);
    EXPECT_EQ(pids.path, path);
    EXPECT_EQ(cpu.path, path);
    const bool v1 = ::access((memory.dir + "/memory.limit_in_bytes").c_str(), F_OK) == 0;
    if (v1) {
        EXPECT_EQ(text_of(memory.dir + "/memory.limit_in_bytes"), "50593792\n");
        EXPECT_EQ(text_of(memory.dir + "/memory.soft_limit_in_bytes"), "25165824\n");
        EXPECT_EQ(text_of(cpu.dir + "/cpu.shares"), "512\n");
        EXPECT_EQ(text_of(cpu.dir + "/cpu.cfs_quota_us"), "30000\n");
    } else {
        EXPECT_EQ(text_of(memory.dir + "/memory.max"), "50593792\n");
        EXPECT_EQ(text_of(memory.dir + "/memory.low"), "25165824\n");
        EXPECT_EQ(text_of(cpu.dir + "/cpu.weight"), "20\n");
        EXPECT_EQ(text_of(cpu.dir + "/cpu.max"), "30000 100000\n");
    }
    EXPECT_EQ(text_of(pids.dir + "/pids.max"), "77\n");
    // v1 cpuset: the new directories above the cgroup got their parent's memory nodes, or no
    // process could have joined.
    EXPECT_EQ(text_of(cgroup_of(pid, "cpuset").dir + "/cpuset.cpus"), "0\n");
    // Its process is in the cgroup in every hierarchy, as runc puts it (an engine's freezer,
    // devices and stats find it there).
    const std::string all = text_of("/proc/" + std::to_string(pid) + "/cgroup");
    for (size_t b = 0; b < all.size();) {
        size_t e = all.find('\n', b);
        if (e == std::string::npos) e = all.size();
        const std::string line = all.substr(b, e - b);
        b = e + 1;
        EXPECT_TRUE(line.ends_with(":" + path)) << line;
    }

    // A second container at the same place is refused while the first runs in it.
    auto busy = run_detached({"create", "-b", bundle, "c2"});
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_NE(busy.err.find("already holds processes"), std::string::npos) << busy.err;

    // delete removes the cgroup itself; the directories above it stay, as runc leaves them.
    auto del = run_oci({"delete", "--force", "c1"});
    EXPECT_EQ(del.exit_code, 0) << del.err;
    reap();
    struct stat st {};
    EXPECT_NE(::stat(memory.dir.c_str(), &st), 0);
    EXPECT_EQ(::stat(memory.dir.substr(0, memory.dir.rfind('/')).c_str(), &st), 0);
}

TEST_F(OciCli, RelativeCgroupsPathIsBelowTheCallersCgroup) {
    const std::string rel = "lxbox-e2e-rel-" + std::to_string(::getpid()) + "/c1";
    const CgroupDir mine = cgroup_of(::getpid(), "memory");
    // Below our own cgroup in each hierarchy, which differs between hierarchies.
    struct Cleanup {
        std::string top;
        ~Cleanup() {
            const std::string own = text_of("/proc/self/cgroup");
            for (size_t b = 0; b < own.size();) {
                size_t e = own.find('\n', b);
                if (e == std::string::npos) e = own.size();
                const std::string line = own.substr(b, e - b), path = line.substr(line.rfind(':') + 1);
                b = e + 1;
                remove_cgroup_path(path == "/" ? "" : path, top);
            }
        }
    } cleanup{"/lxbox-e2e-rel-" + std::to_string(::getpid())};
    json config = default_config({"sleep", "60"});
    config["linux"]["cgroupsPath"] = rel;
    write_config(config);
    auto r = run_detached({"create", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const pid_t pid = state_of("c1")["pid"].get<pid_t>();
    EXPECT_EQ(cgroup_of(pid, "memory").path, (mine.path == "/" ? "" : mine.path) + "/" + rel);
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
}

TEST_F(OciCli, WithoutACgroupNamespaceTheContainerSeesOnlyItsOwnCgroup) {
    json config = default_config({});
    auto& ns = config["linux"]["namespaces"];
    ns.erase(std::remove(ns.begin(), ns.end(), json{{"type", "cgroup"}}), ns.end());
    config["linux"]["resources"]["pids"] = {{"limit", 42}};
    // Each hierarchy shows the container's own cgroup (its limit; no cgroup mount has the
    // host's root as its root), read-only, and /sys/fs/cgroup appears once, not stacked.
    EXPECT_EQ(output("cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max;"
                     "awk '{for(i=7;i<=NF;i++) if($i==\"-\") t=$(i+1); if((t==\"cgroup\"||t==\"cgroup2\") && $4==\"/\") n++}"
                     " END{print n+0}' /proc/self/mountinfo;"
                     "grep -c ' /sys/fs/cgroup ' /proc/self/mountinfo;"
                     "mkdir /sys/fs/cgroup/pids/x 2>/dev/null || echo ro",
                     config),
              "42\n0\n1\nro\n");
}

TEST_F(OciCli, LinuxDevicesAreMadeAndTheDeviceCgroupHolds) {
    json config = default_config({});
    config["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229},
                                   {"fileMode", 0666}, {"uid", 7}, {"gid", 8}}};
    // With CAP_MKNOD (not in runc spec's set), only the device cgroup stands in the way.
    for (const char* set : {"bounding", "effective", "permitted"}) config["process"]["capabilities"][set].push_back("CAP_MKNOD");
    // The node as asked; it opens (allowed with it); a node made for another device does not
    // (runc spec's deny-all, then the defaults); /dev/null works.
    EXPECT_EQ(output("stat -c '%F %t:%T %a %u:%g' /dev/fuse; (exec 3<>/dev/fuse) && echo fuse;"
                     "mknod /tmp/lc c 10 237; (exec 3</tmp/lc) 2>/dev/null || echo refused; echo x >/dev/null && echo null",
                     config),
              "character special file a:e5 666 7:8\nfuse\nrefused\nnull\n");
}

TEST_F(OciCli, HooksGetTheStateOnStdin) {
    json config = default_config({"true"});
    auto hook = [&](const std::string& name) {
        return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > " + dir / name}}};
    };
    // createContainer runs in the container's namespaces before pivot_root (a host path, writing
    // to the host's /tmp); startContainer in the container just before the command (the
    // container's /bin/sh, writing to the container's /tmp, which the command prints).
    config["process"]["args"] = {"cat", "/tmp/startContainer"};
    config["hooks"] = {{"prestart", {hook("prestart")}},
                       {"createRuntime", {hook("createRuntime")}},
                       {"createContainer", {hook("createContainer")}},
                       {"startContainer", {{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat > /tmp/startContainer"}}}}},
                       {"poststart", {hook("poststart")}},
                       {"poststop", {hook("poststop")}}};
    write_config(config);
    auto r = run_oci({"run", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json started = json::parse(r.out, nullptr, false);
    EXPECT_EQ(started["id"], "c1") << r.out;
    const json prestart = json::parse(text_of(dir / "prestart"), nullptr, false);
    for (const auto& [stage, status] : std::vector<std::pair<std::string, std::string>>{
             {"prestart", "created"}, {"createRuntime", "created"}, {"createContainer", "created"},
             {"poststart", "running"}, {"poststop", "stopped"}}) {
        json s = json::parse(text_of(dir / stage), nullptr, false);
        EXPECT_EQ(s["id"], "c1") << stage;
        EXPECT_EQ(s["status"], status) << stage;
        EXPECT_EQ(s["bundle"], bundle) << stage;
    }
    // The hooks the container's process runs see its pid as the host does, as the others do.
    EXPECT_GT(prestart["pid"].get<int>(), 1);
    EXPECT_EQ(json::parse(text_of(dir / "createContainer"), nullptr, false)["pid"], prestart["pid"]);
    EXPECT_EQ(started["pid"], prestart["pid"]);
    // A failing prestart hook stops the creation, and nothing stays.
    config["hooks"] = {{"prestart", {{{"path", "/bin/false"}}}}};
    write_config(config);
    auto failed = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_EQ(failed.err, "lxbox: run c1: prestart hook /bin/false: exited with status 1\n");
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
    // So does a failing createContainer hook, run by the container's process.
    config["hooks"] = {{"createContainer", {{{"path", "/bin/false"}}}}};
    write_config(config);
    failed = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_NE(failed.exit_code, 0);
    EXPECT_EQ(failed.err, "lxbox: run c1: createContainer hook /bin/false: exited with status 1\n");
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
}

TEST_F(OciCli, ConsoleSocketReceivesThePty) {
    const std::string sock_path = dir / "console.sock";
    UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, sock_path.c_str());
    ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(server.get(), 1), 0);
    json config = default_config({"sh", "-c", "tty; echo done"});
    config["process"]["terminal"] = true;
    write_config(config);
    // Without a socket a detached terminal has nowhere to go.
    auto refused = run_detached({"create", "-b", bundle, "c1"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_EQ(refused.err, "lxbox: create c1: process.terminal needs --console-socket when the container is detached\n");
    std::thread accepter;
    UniqueFd master;
    accepter = std::thread([&] {
        // Bounded: a create that fails never connects.
        struct pollfd p{server.get(), POLLIN, 0};
        if (::poll(&p, 1, 20000) != 1) return;
        UniqueFd conn(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (conn) {
            auto got = linux_fx::recv_fd(conn.get());
            if (got) master = std::move(*got);
        }
    });
    auto created = run_detached({"create", "-b", bundle, "--console-socket", sock_path, "c1"});
    accepter.join();
    ASSERT_EQ(created.exit_code, 0) << created.err;
    ASSERT_TRUE(master);
    ASSERT_EQ(run_oci({"start", "c1"}).exit_code, 0);
    std::string text;
    char buf[256];
    ssize_t n;
    struct pollfd p{master.get(), POLLIN, 0};
    while (text.find("done") == std::string::npos && ::poll(&p, 1, 20000) == 1 &&
           (n = ::read(master.get(), buf, sizeof buf)) > 0)
        text.append(buf, static_cast<size_t>(n));
    EXPECT_NE(text.find("/dev/pts/0"), std::string::npos) << text;
    EXPECT_TRUE(wait_status("c1", "stopped"));
}

TEST_F(OciCli, JoinsANamespaceByPath) {
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c2"}).exit_code, 0);
    const std::string pid = std::to_string(state_of("c2")["pid"].get<int>());
    char first[64] = {};
    ASSERT_GT(::readlink(("/proc/" + pid + "/ns/net").c_str(), first, sizeof first - 1), 0);
    json config = default_config({});
    config["linux"]["namespaces"][1] = {{"type", "network"}, {"path", "/proc/" + pid + "/ns/net"}};
    EXPECT_EQ(output("readlink /proc/self/ns/net", config), std::string(first) + "\n");
    EXPECT_EQ(run_oci({"delete", "-f", "c2"}).exit_code, 0);
}

// What a /proc/PID/ns/ link names ("" when it cannot be read).
std::string ns_link(const std::string& path) {
    char buf[64] = {};
    return ::readlink(path.c_str(), buf, sizeof buf - 1) > 0 ? std::string(buf) : std::string();
}

// `unshare OPTIONS sleep 1000` in a process group of its own, holding the namespaces it made
// until the test ends (then the whole group is killed and reaped).
class NamespaceHolder {
public:
    explicit NamespaceHolder(std::vector<std::string> options) {
        std::vector<std::string> argv{"unshare"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(), {"sleep", "1000"});
        std::vector<char*> cargv;
        for (auto& a : argv) cargv.push_back(a.data());
        cargv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            ::execvp("unshare", cargv.data());
            ::_exit(127);
        }
    }
    NamespaceHolder(const NamespaceHolder&) = delete;
    NamespaceHolder& operator=(const NamespaceHolder&) = delete;
    ~NamespaceHolder() {
        if (pid_ <= 0) return;
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    pid_t pid() const { return pid_; }
    std::string ns_dir() const { return "/proc/" + std::to_string(pid_) + "/ns/"; }

private:
    pid_t pid_ = -1;
};

// As the OCI validation suite does it: namespaces made by `unshare --fork`, joined by path;
// a pid namespace through the parent's pid_for_children.
TEST_F(OciCli, JoinsPidAndMountNamespacesByPath) {
    const NamespaceHolder holder({"--pid", "--mount", "--fork"});
    ASSERT_GT(holder.pid(), 0);
    const std::string h = holder.ns_dir();
    // unshare has made both once its mount namespace and its child's pid namespace differ from ours.
    for (int i = 0; i < 300 && (ns_link(h + "mnt") == ns_link("/proc/self/ns/mnt") ||
                                ns_link(h + "pid_for_children") == ns_link("/proc/self/ns/pid"));
         ++i)
        ::usleep(10000);
    const std::string want_pid = ns_link(h + "pid_for_children"), want_mnt = ns_link(h + "mnt");
    ASSERT_NE(want_pid, ns_link("/proc/self/ns/pid"));
    ASSERT_NE(want_mnt, ns_link("/proc/self/ns/mnt"));

    json config = default_config({"sleep", "60"});
    auto& ns = config["linux"]["namespaces"];
    for (auto& n : ns) {
        if (n["type"] == "pid") n["path"] = h + "pid_for_children";
        if (n["type"] == "mount") n["path"] = h + "mnt";
    }
    write_config(config);
    auto r = run_detached({"create", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string c = "/proc/" + std::to_string(state_of("c1")["pid"].get<pid_t>()) + "/ns/";
    EXPECT_EQ(ns_link(c + "pid"), want_pid);
    EXPECT_EQ(ns_link(c + "mnt"), want_mnt);
    // Once started, exec enters the same ones.
    ASSERT_EQ(run_oci({"start", "c1"}).exit_code, 0);
    auto ex = run_oci({"exec", "c1", "--", "sh", "-c", "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, want_pid + "\n" + want_mnt + "\n") << ex.err;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
}

// A time namespace made by `unshare --time` with its boot clock a million seconds ahead.
TEST_F(OciCli, JoinsATimeNamespaceByPath) {
    const NamespaceHolder holder({"--time", "--boottime", "1000000"});
    ASSERT_GT(holder.pid(), 0);
    const std::string path = holder.ns_dir() + "time";
    // The holder is in its namespace once it has exec'd sleep. (The link cannot be read for a
    // moment while it execs: "" is not an answer.)
    auto entered = [&] {
        const std::string l = ns_link(path);
        return !l.empty() && l != ns_link("/proc/self/ns/time");
    };
    for (int i = 0; i < 1000 && !entered(); ++i) ::usleep(10000);
    const std::string want = ns_link(path);
    ASSERT_TRUE(entered()) << "'" << want << "'";
    json config = default_config({});
    config["linux"]["namespaces"].push_back({{"type", "time"}, {"path", path}});
    const std::string out = output("readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime", config);
    const auto nl = out.find('\n');
    ASSERT_NE(nl, std::string::npos) << out;
    EXPECT_EQ(out.substr(0, nl), want);
    EXPECT_GE(std::stol(out.substr(nl + 1)), 1000000) << out;
}

// No "mount" in linux.namespaces: the container is set up in the caller's mount namespace and
// chrooted there, as runc does; exec enters its root, and delete (or a failed create) takes
// its mounts away, which runc leaves behind.
TEST_F(OciCli, WithoutAMountNamespaceItRunsInTheCallersAndLeavesNoMount) {
    json config = default_config({"sleep", "60"});
    auto& ns = config["linux"]["namespaces"];
    ns.erase(std::remove_if(ns.begin(), ns.end(), [](const json& n) { return n["type"] == "mount"; }), ns.end());
    write_config(config);
    ASSERT_EQ(text_of("/proc/self/mountinfo").find(bundle), std::string::npos);
    auto r = run_detached({"run", "-d", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string c = "/proc/" + std::to_string(state_of("c1")["pid"].get<int>()) + "/";
    EXPECT_EQ(ns_link(c + "ns/mnt"), ns_link("/proc/self/ns/mnt"));
    // Its root and its mounts are in our namespace, under the bundle's rootfs.
    const std::string during = text_of("/proc/self/mountinfo");
    EXPECT_NE(during.find(" " + bundle + "/rootfs/proc "), std::string::npos) << during;
    auto ex = run_oci({"exec", "c1", "--", "sh", "-c",
                       "readlink /proc/self/ns/mnt; ls /linuxrc; tr '\\0' ' ' < /proc/1/cmdline; echo; hostname"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, ns_link("/proc/self/ns/mnt") + "\n/linuxrc\nsleep 60 \nocibox\n") << ex.err;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
    EXPECT_EQ(text_of("/proc/self/mountinfo").find(bundle), std::string::npos);
    // In the foreground (run's own tear-down), with the masks and the read-only root.
    EXPECT_EQ(output("ls /linuxrc; grep -c '^proc /proc proc' /proc/mounts; touch /x 2>/dev/null || echo ro", config),
              "/linuxrc\n1\nro\n");
    EXPECT_EQ(text_of("/proc/self/mountinfo").find(bundle), std::string::npos);
    // A create that fails half-way leaves no mount either.
    config["mounts"].push_back({{"destination", "/mnt/x"}, {"type", "bind"}, {"source", dir / "missing"},
                                {"options", {"bind"}}});
    write_config(config);
    auto failed = run_oci({"run", "-b", bundle, "c1"});
    EXPECT_EQ(failed.exit_code, 1);
    EXPECT_NE(failed.err.find(dir / "missing"), std::string::npos) << failed.err;
    EXPECT_EQ(text_of("/proc/self/mountinfo").find(bundle), std::string::npos);
}

// With a user namespace proc and sysfs are made before pivot_root (fsopen): they are named as
// the bundle names them, as runc's are and as without one ("none" before, which a look for the
// proc mount in /proc/mounts did not find).
TEST_F(OciCli, UserNamespaceBundleMountsProcAndSysfsByTheirNames) {
    json config = default_config({});
    config["linux"]["namespaces"].push_back({{"type", "user"}});
    config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    EXPECT_EQ(output("grep -E '^[^ ]+ /(proc|sys) ' /proc/mounts | cut -d' ' -f1-3; ls /proc/1/status", config),
              "proc /proc proc\nsysfs /sys sysfs\n/proc/1/status\n");
}

// Bind mounts with a propagation option: the bind, then mount(2) with the propagation, as runc
// does. The container's mounts stay slaves of the host's (runc's default), so a mount the host
// makes under a shared source reaches the "shared" and "slave" binds and not the private one,
// and nothing the container mounts reaches the host. "noatime" on a bind was refused (EINVAL).
TEST_F(OciCli, BindMountsWithPropagationOptionsPropagateAsAsked) {
    const std::string src = dir / "src";
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    ASSERT_EQ(::mount("lxbox-src", src.c_str(), "tmpfs", 0, "mode=755"), 0);
    ASSERT_EQ(::mount(nullptr, src.c_str(), nullptr, MS_SHARED, nullptr), 0);
    json config = default_config({"sleep", "60"});
    const std::vector<std::pair<std::string, std::vector<std::string>>> binds = {
        {"shared", {"bind", "shared"}},     {"rshared", {"rbind", "rshared"}},
        {"slave", {"bind", "slave"}},       {"private", {"rbind", "rprivate", "noatime"}}};
    for (const auto& [name, options] : binds)
        config["mounts"].push_back({{"destination", "/mnt/" + name}, {"type", "bind"}, {"source", src}, {"options", options}});
    config["mounts"].push_back({{"destination", "/mnt/etc"}, {"type", "bind"}, {"source", "/etc"},
                                {"options", {"rbind", "rprivate", "ro", "strictatime"}}});
    write_config(config);
    auto r = run_detached({"run", "-d", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string pid = std::to_string(state_of("c1")["pid"].get<int>());
    const std::string root = "/proc/" + pid + "/root";
    // The host mounts under its shared directory.
    for (const char* sub : {"/sub", "/sub2"}) ASSERT_EQ(::mkdir((src + sub).c_str(), 0755), 0);
    ASSERT_EQ(::mount("lxbox-host", (src + "/sub").c_str(), "tmpfs", 0, nullptr), 0);
    ASSERT_EQ(::close(::open((src + "/sub/marker").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
    for (const char* name : {"shared", "rshared", "slave"})
        EXPECT_EQ(::access((root + "/mnt/" + name + "/sub/marker").c_str(), F_OK), 0) << name;
    EXPECT_NE(::access((root + "/mnt/private/sub/marker").c_str(), F_OK), 0);
    EXPECT_EQ(::access((root + "/mnt/etc/passwd").c_str(), F_OK), 0);
    // The container mounts under its shared bind: the host does not see it.
    EXPECT_TRUE(mount_tmpfs_inside(pid, "lxbox-inside", "/mnt/shared/sub2"));
    EXPECT_EQ(text_of("/proc/self/mountinfo").find("lxbox-inside"), std::string::npos);
    auto ex = run_oci({"exec", "c1", "--", "sh", "-c",
                       "grep -c lxbox-inside /proc/self/mountinfo; grep ' /mnt/private ' /proc/self/mountinfo | "
                       "grep -c -e shared: -e master:; touch /mnt/etc/x 2>/dev/null || echo ro"});
    EXPECT_EQ(ex.out, "1\n0\nro\n") << ex.err;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
    EXPECT_EQ(::umount2(src.c_str(), MNT_DETACH), 0);
}

// rootfsPropagation rshared is two-way, as runc's: a bind of a host directory under a shared
// mount is the host's peer, so the host's mounts under it reach the container and the
// container's reach the host; the root's own bind does not (its parent is made private).
TEST_F(OciCli, RootfsPropagationRsharedIsTwoWay) {
    const std::string src = dir / "src";
    ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
    ASSERT_EQ(::mount("lxbox-src", src.c_str(), "tmpfs", 0, "mode=755"), 0);
    ASSERT_EQ(::mount(nullptr, src.c_str(), nullptr, MS_SHARED, nullptr), 0);
    for (const char* sub : {"/fromhost", "/fromctr"}) ASSERT_EQ(::mkdir((src + sub).c_str(), 0755), 0);
    json config = default_config({"sleep", "60"});
    config["linux"]["rootfsPropagation"] = "rshared";
    config["mounts"].push_back({{"destination", "/mnt/src"}, {"type", "bind"}, {"source", src}, {"options", {"rbind"}}});
    write_config(config);
    auto r = run_detached({"run", "-d", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string pid = std::to_string(state_of("c1")["pid"].get<int>());
    // Host to container.
    ASSERT_EQ(::mount("lxbox-fromhost", (src + "/fromhost").c_str(), "tmpfs", 0, nullptr), 0);
    auto seen = run_oci({"exec", "c1", "--", "grep", "-c", "lxbox-fromhost", "/proc/self/mountinfo"});
    EXPECT_EQ(seen.out, "1\n") << seen.err;
    // Container to host: a mount made in the container's mount namespace.
    EXPECT_TRUE(mount_tmpfs_inside(pid, "lxbox-fromctr", "/mnt/src/fromctr"));
    const std::string host_mounts = text_of("/proc/self/mountinfo");
    EXPECT_NE(host_mounts.find(" " + src + "/fromctr "), std::string::npos);
    // Nothing of the container's own root reached the host.
    EXPECT_EQ(host_mounts.find(bundle), std::string::npos);
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
    ::umount2((src + "/fromctr").c_str(), MNT_DETACH);
    EXPECT_EQ(::umount2(src.c_str(), MNT_DETACH), 0);
    EXPECT_EQ(text_of("/proc/self/mountinfo").find(src), std::string::npos);
}

// --user is numbers only, as runc's: "12abc" became uid 12.
TEST_F(OciCli, ExecRefusesAUserThatIsNotNumbers) {
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    auto bad = run_oci({"exec", "--user", "12abc", "c1", "--", "id", "-u"});
    EXPECT_EQ(bad.exit_code, 255);
    EXPECT_EQ(bad.err, "lxbox: exec c1: --user: expected UID[:GID] (numbers), got '12abc'\n");
    EXPECT_EQ(bad.out, "");
    auto good = run_oci({"exec", "--user", "12:34", "c1", "--", "id"});
    EXPECT_EQ(good.exit_code, 0) << good.err;
    EXPECT_TRUE(good.out.starts_with("uid=12 gid=34")) << good.out;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
}

TEST_F(OciCli, ExecRunsInTheContainersNamespacesCgroupAndFilter) {
    json config = default_config({"sleep", "60"});
    config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"},
                                                 {"errnoRet", 1}}}}};
    config["linux"]["resources"]["pids"] = {{"limit", 50}};
    write_config(config);
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    const std::string pid = std::to_string(state_of("c1")["pid"].get<int>());
    auto ns = [](const std::string& p, const char* kind) {
        char buf[64] = {};
        return ::readlink(("/proc/" + p + "/ns/" + kind).c_str(), buf, sizeof buf - 1) > 0 ? std::string(buf) : "";
    };
    // The command's own namespaces, its cgroup's limit and the bundle's filter; stdin, exit code.
    auto r = run_oci({"exec", "c1", "--", "sh", "-c",
                      "readlink /proc/self/ns/net; readlink /proc/self/ns/mnt; hostname; read x; echo got $x;"
                      "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max;"
                      "grep '^Seccomp:' /proc/self/status | cut -f2; mkdir /tmp/d 2>/dev/null || echo denied; exit 7"},
                     "abc\n");
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.out, ns(pid, "net") + "\n" + ns(pid, "mnt") + "\nocibox\ngot abc\n50\n2\ndenied\n");
    EXPECT_EQ(r.err, "");
    // A process.json, as engines pass it: its own user, cwd and environment.
    const std::string process = dir / "process.json";
    {
        UniqueFd fd(::open(process.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        ASSERT_TRUE(write_all(fd.get(), json{{"args", {"sh", "-c", "id -u; pwd; echo $ONLY"}},
                                             {"cwd", "/dev"},
                                             {"env", {"PATH=/bin", "ONLY=this"}},
                                             {"user", {{"uid", 1000}, {"gid", 1000}}}}
                                                .dump())
                        .ok());
    }
    auto p = run_oci({"exec", "-p", process, "c1"});
    EXPECT_EQ(p.exit_code, 0) << p.err;
    EXPECT_EQ(p.out, "1000\n/dev\nthis\n");
    // --detach with a pid file: it runs on after exec returns.
    auto d = run_detached({"exec", "-d", "--pid-file", dir / "exec.pid", "c1", "--", "sleep", "30"});
    EXPECT_EQ(d.exit_code, 0) << d.err;
    const std::string exec_pid = text_of(dir / "exec.pid");
    ASSERT_FALSE(exec_pid.empty());
    EXPECT_EQ(::kill(std::stoi(exec_pid), 0), 0);
    auto ps = run_oci({"ps", "--format", "json", "c1"});
    EXPECT_EQ(json::parse(ps.out).size(), 2u) << ps.out;  // sleep 60 and sleep 30: no forwarder
    // Not found: exec's own error, 255 as runc's, with the reason; a stopped container: one line.
    auto missing = run_oci({"exec", "c1", "--", "/no/such"});
    EXPECT_EQ(missing.exit_code, 255);
    EXPECT_EQ(missing.err, "lxbox: exec c1: exec /no/such: No such file or directory\n");
    // The detached command is our child, as it is the shim's under containerd: the namespace's
    // init ends only once it is reaped, which its reaper does meanwhile.
    std::thread reaper([pid = std::stoi(exec_pid)] { ::waitpid(pid, nullptr, 0); });
    auto del = run_oci({"delete", "-f", "c1"});
    reaper.join();
    EXPECT_EQ(del.exit_code, 0) << del.err;
    reap();
    EXPECT_NE(::kill(std::stoi(exec_pid), 0), 0);  // the cgroup went with everything in it
    write_config(default_config({"sleep", "60"}));
    ASSERT_EQ(run_detached({"create", "-b", bundle, "c1"}).exit_code, 0);
    auto created = run_oci({"exec", "c1", "--", "true"});
    EXPECT_EQ(created.err, "lxbox: exec c1: the container is created, not running\n");
}

// A bundle with a user namespace of its own, run by root: ids mapped as the config says, and
// exec enters that user namespace with the others.
TEST_F(OciCli, UserNamespaceBundleAndExecIntoIt) {
    json config = default_config({"sleep", "60"});
    config["linux"]["namespaces"].push_back({{"type", "user"}});
    config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
    write_config(config);
    // The mapped root (host uid 200000) must reach the rootfs, as with runc.
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    auto r = run_detached({"run", "-d", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string pid = std::to_string(state_of("c1")["pid"].get<int>());
    const std::string map = text_of("/proc/" + pid + "/uid_map");
    EXPECT_NE(map.find("200000"), std::string::npos) << map;
    char ns[64] = {};
    ASSERT_GT(::readlink(("/proc/" + pid + "/ns/user").c_str(), ns, sizeof ns - 1), 0);
    auto ex = run_oci({"exec", "c1", "--", "sh", "-c", "id -u; readlink /proc/self/ns/user; cat /proc/self/uid_map | tr -s ' '"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, "0\n" + std::string(ns) + "\n 0 200000 65536\n") << ex.err;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
}

// A user namespace made (and mapped) by `unshare`, joined by path: the container's other
// namespaces are made inside it, so its mapped root owns them, and exec enters it too.
TEST_F(OciCli, JoinsAUserNamespaceByPathAndMakesTheOthersInIt) {
    const NamespaceHolder holder({"--user"});
    ASSERT_GT(holder.pid(), 0);
    const std::string h = holder.ns_dir();
    const std::string proc = "/proc/" + std::to_string(holder.pid());
    for (int i = 0; i < 300 && ns_link(h + "user") == ns_link("/proc/self/ns/user"); ++i) ::usleep(10000);
    // Mapped from here, as its owner would (unshare's --map-users wants /etc/subuid for root).
    for (const char* map : {"/uid_map", "/gid_map"}) {
        std::ofstream(proc + map) << "0 200000 65536\n";
        ASSERT_NE(text_of(proc + map).find("200000"), std::string::npos) << map;
    }
    const std::string map_file = proc + "/uid_map";
    const std::string want = ns_link(h + "user");
    ASSERT_NE(want, ns_link("/proc/self/ns/user"));
    json config = default_config({"sleep", "60"});
    config["linux"]["namespaces"].push_back({{"type", "user"}, {"path", h + "user"}});
    write_config(config);
    // The mapped root (host uid 200000) must reach the rootfs, as with runc.
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    auto r = run_detached({"run", "-d", "-b", bundle, "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string c = "/proc/" + std::to_string(state_of("c1")["pid"].get<int>()) + "/";
    EXPECT_EQ(ns_link(c + "ns/user"), want);
    EXPECT_EQ(text_of(c + "uid_map"), text_of(map_file));
    // Its pid and mount namespaces are new, and owned by the joined one: its root mounted /proc.
    EXPECT_NE(ns_link(c + "ns/pid"), ns_link("/proc/self/ns/pid"));
    EXPECT_NE(ns_link(c + "ns/mnt"), ns_link(h + "mnt"));
    auto ex = run_oci({"exec", "c1", "--", "sh", "-c", "id -u; readlink /proc/self/ns/user; ls -n /proc/1/status | tr -s ' ' | cut -d' ' -f3"});
    EXPECT_EQ(ex.exit_code, 0) << ex.err;
    EXPECT_EQ(ex.out, "0\n" + want + "\n0\n") << ex.err;
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
    // A user namespace that is not there is one clear line, and nothing is left.
    config["linux"]["namespaces"].back()["path"] = "/proc/999999999/ns/user";
    write_config(config);
    r = run_oci({"run", "-b", bundle, "c3"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("/proc/999999999/ns/user"), std::string::npos) << r.err;
    EXPECT_EQ(run_oci({"state", "c3"}).exit_code != 0, true);
}

TEST_F(OciCli, PauseFreezesAndResumeThaws) {
    // A counter the container advances every 10 ms: it must stand still while paused.
    write_config(default_config({"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.01; done"}));
    ASSERT_EQ(run_detached({"run", "-d", "-b", bundle, "c1"}).exit_code, 0);
    const std::string n = "/proc/" + std::to_string(state_of("c1")["pid"].get<int>()) + "/root/tmp/n";
    auto count = [&] { return std::atoi(text_of(n).c_str()); };
    for (int i = 0; i < 300 && count() < 3; ++i) ::usleep(10000);
    auto p = run_oci({"pause", "c1"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    EXPECT_EQ(state_of("c1")["status"], "paused");
    const int frozen_at = count();
    ::usleep(200000);
    EXPECT_EQ(count(), frozen_at);
    EXPECT_NE(run_oci({"pause", "c1"}).exit_code, 0);  // already paused
    auto r = run_oci({"resume", "c1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(state_of("c1")["status"], "running");
    for (int i = 0; i < 300 && count() <= frozen_at; ++i) ::usleep(10000);
    EXPECT_GT(count(), frozen_at);
    // A paused container is deleted with --force only, and then goes.
    ASSERT_EQ(run_oci({"pause", "c1"}).exit_code, 0);
    auto busy = run_oci({"delete", "c1"});
    EXPECT_NE(busy.exit_code, 0);
    EXPECT_EQ(busy.err, "lxbox: delete c1: the container is paused (stop it first, or --force)\n");
    EXPECT_EQ(run_oci({"delete", "--force", "c1"}).exit_code, 0);
    reap();
    EXPECT_NE(run_oci({"state", "c1"}).exit_code, 0);
}

TEST_F(OciCli, FeaturesAndTheLxboxOciName) {
    auto r = run_oci({"features"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json f = json::parse(r.out);
    EXPECT_EQ(f["ociVersionMax"], "1.1.0");
    EXPECT_EQ(f["linux"]["cgroup"]["v1"], true);
    EXPECT_EQ(f["linux"]["cgroup"]["systemd"], false);
    // An engine takes a path to a runc-like binary: lxbox named lxbox-oci is one.
    const std::string link = dir / "lxbox-oci";
    ASSERT_EQ(::symlink(LXBOX_BINARY, link.c_str()), 0);
    write_config(default_config({"echo", "via lxbox-oci"}));
    auto via = run({link, "--root", state, "run", "-b", bundle, "c1"});
    EXPECT_EQ(via.exit_code, 0) << via.err;
    EXPECT_EQ(via.out, "via lxbox-oci\n");
}

}  // namespace
}  // namespace lxbox::test
