// Hardened by default: docker's capabilities, no_new_privs, its seccomp semantics and masked
// paths, each tried for real from inside a container (a static probe makes the syscalls).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/base/unique_fd.hpp"
#include "tests/common/tarball.hpp"
#include "tests/common/test_support.hpp"

namespace lxbox::test {
namespace {

class Hardening : public ::testing::Test {
protected:
    ScratchDir dir;
    std::string root = dir / "store";

    void SetUp() override {
        if (!is_root()) LXBOX_SKIP("needs root (namespaces, mounts)");
    }
    // Runs the probe for each name in one container; returns its answers, one per line.
    std::string probe(const std::vector<std::string>& names, const std::vector<std::string>& options = {}) {
        std::string script;
        for (const auto& n : names) script += "/probe " + n + "; ";
        std::vector<std::string> args = {"launch", "--rm", "-T", "-v", std::string(LXBOX_SYSCALL_PROBE) + ":/probe:ro"};
        args.insert(args.end(), options.begin(), options.end());
        args.insert(args.end(), {"--", "sh", "-c", script});
        auto r = run_lxbox(root, args);
        EXPECT_EQ(r.err, "");
        return r.out;
    }
    std::string status_line(const std::string& key, const std::vector<std::string>& options = {}) {
        std::vector<std::string> args = {"launch", "--rm", "-T"};
        args.insert(args.end(), options.begin(), options.end());
        args.insert(args.end(), {"--", "sh", "-c", "grep '^" + key + ":' /proc/self/status | cut -f2"});
        auto r = run_lxbox(root, args);
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.out;
    }
};

TEST_F(Hardening, DockerCapabilitiesNoNewPrivsAndAFilterByDefault) {
    // docker's set without NET_RAW (0x2000), which podman drops too.
    EXPECT_EQ(status_line("CapEff"), "00000000a80405fb\n");
    EXPECT_EQ(status_line("CapBnd"), "00000000a80405fb\n");
    EXPECT_EQ(status_line("CapInh"), "0000000000000000\n");
    EXPECT_EQ(status_line("CapAmb"), "0000000000000000\n");
    EXPECT_EQ(status_line("NoNewPrivs"), "1\n");
    EXPECT_EQ(status_line("Seccomp"), "2\n");
    // A user other than root has no capabilities at all.
    EXPECT_EQ(status_line("CapEff", {"-u", "65534"}), "0000000000000000\n");
}

TEST_F(Hardening, CapAddCapDropAndPrivileged) {
    EXPECT_EQ(status_line("CapEff", {"--cap-drop", "ALL", "--cap-add", "NET_ADMIN"}), "0000000000001000\n");
    EXPECT_EQ(status_line("CapEff", {"--cap-drop", "MKNOD"}), "00000000a00405fb\n");
    EXPECT_EQ(status_line("CapEff", {"--cap-add", "NET_RAW"}), "00000000a80425fb\n");
    EXPECT_EQ(status_line("Seccomp", {"--privileged"}), "0\n");
    EXPECT_EQ(status_line("NoNewPrivs", {"--privileged"}), "0\n");
    EXPECT_EQ(status_line("Seccomp", {"--seccomp", "unconfined"}), "0\n");
    auto bad = run_lxbox(root, {"launch", "--rm", "--cap-add", "FLY", "--", "true"});
    EXPECT_EQ(bad.exit_code, 125);
    EXPECT_EQ(bad.err, "lxbox: --cap-add: unknown capability 'FLY'\n");
}

TEST_F(Hardening, DangerousSyscallsAreRefusedWithEperm) {
    const std::vector<std::string> denied = {"keyctl", "add_key", "request_key", "bpf", "perf_event_open",
                                             "userfaultfd", "kexec_load", "open_by_handle_at", "init_module",
                                             "mount", "unshare-user", "clone-newuser", "personality-norandom",
                                             "socket-vsock"};
    std::string expected;
    for (size_t i = 0; i < denied.size(); ++i) expected += "EPERM\n";
    EXPECT_EQ(probe(denied), expected);
    // clone3 answers ENOSYS (libc falls back to clone, which the filter can check); the ordinary
    // variants go through.
    EXPECT_EQ(probe({"clone3", "clone-plain", "personality-query", "socket-unix"}), "ENOSYS\nok\nok\nok\n");
}

TEST_F(Hardening, PrivilegedLiftsTheFilterAndTheCapabilityChecks) {
    // The kernel answers now: the keyring call goes through, clone3 with no arguments is
    // EINVAL (not ENOSYS), a user namespace can be made.
    auto out = probe({"keyctl", "clone3", "unshare-user"}, {"--privileged"});
    EXPECT_EQ(out, "ok\nEINVAL\nok\n");
    // A capability unlocks its syscalls: mount with SYS_ADMIN.
    EXPECT_EQ(probe({"mount"}, {"--cap-add", "SYS_ADMIN"}), "ok\n");
}

TEST_F(Hardening, ADockerFormatProfileFromAFile) {
    const std::string profile = dir / "profile.json";
    ASSERT_TRUE(write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["keyctl"], "action": "SCMP_ACT_ALLOW"}]})").ok());
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--seccomp", profile, "-v",
                              std::string(LXBOX_SYSCALL_PROBE) + ":/probe:ro", "--", "sh", "-c",
                              "mkdir /tmp/x 2>/dev/null || echo refused; /probe keyctl"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "refused\nok\n");
    ASSERT_TRUE(write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_TRACE"})").ok());
    auto bad = run_lxbox(root, {"launch", "--rm", "--seccomp", profile, "--", "true"});
    EXPECT_EQ(bad.exit_code, 125);
    EXPECT_EQ(bad.err, "lxbox: seccomp profile: defaultAction: action 'SCMP_ACT_TRACE' needs a tracer or a notify "
                       "listener: not supported\n");
}

// Init lowers its own capabilities once the command runs; when it cannot (a profile refusing
// capset; a non-root command sets none itself), PID 1 would keep every capability: the launch
// fails instead. (The error was dropped: the container ran with an init at CapEff 000001fffeffffff.)
TEST_F(Hardening, AnInitThatCannotLowerItsCapabilitiesFailsTheLaunch) {
    const std::string profile = dir / "no-capset.json";
    ASSERT_TRUE(write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["capset"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})").ok());
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--user", "1000", "--seccomp", profile, "--", "sh", "-c",
                              "grep CapEff /proc/1/status"});
    EXPECT_EQ(r.exit_code, 125) << r.out;
    EXPECT_TRUE(r.err.starts_with("lxbox: ")) << r.err;
    EXPECT_TRUE(r.err.ends_with(": lower the capabilities of the container's init: set capabilities: Operation not "
                                "permitted\n"))
        << r.err;
    // The same profile as root: the command's own capset is refused first, and that is the report.
    auto as_root = run_lxbox(root, {"launch", "--rm", "-T", "--seccomp", profile, "--", "true"});
    EXPECT_EQ(as_root.exit_code, 125);
    EXPECT_TRUE(as_root.err.ends_with(": set capabilities: Operation not permitted\n")) << as_root.err;
    EXPECT_EQ(std::count(as_root.err.begin(), as_root.err.end(), '\n'), 1) << as_root.err;
}

// The compiled filter is cached by a hash of the plan; a cached file is loaded only when it is
// sealed by what it was compiled from. One whose instructions were replaced (the same size, a
// filter refusing every syscall) was loaded as it was: no command could run any more.
TEST_F(Hardening, ACachedFilterThatWasChangedIsCompiledAgain) {
    ASSERT_EQ(run_lxbox(root, {"launch", "--rm", "-T", "--", "true"}).exit_code, 0);
    std::string cached;
    for (const auto& entry : std::filesystem::directory_iterator(root + "/cache"))
        if (entry.path().filename().string().starts_with("seccomp-")) cached = entry.path().string();
    ASSERT_FALSE(cached.empty());
    const std::string original = read_file(cached).value();
    // Each program: an 8-byte count, then that many 8-byte instructions, each made "return EPERM".
    std::string forged = original;
    for (size_t pos = 0; pos + 8 <= forged.size();) {
        uint64_t n = 0;
        std::memcpy(&n, forged.data() + pos, 8);
        if (n == 0 || n > (forged.size() - pos - 8) / 8) break;
        for (uint64_t i = 0; i < n; ++i) {
            const uint16_t code = 0x06;           // BPF_RET | BPF_K
            const uint32_t k = 0x00050000 | 1;    // SECCOMP_RET_ERRNO | EPERM
            char* insn = forged.data() + pos + 8 + 8 * i;
            std::memset(insn, 0, 8);
            std::memcpy(insn, &code, 2);
            std::memcpy(insn + 4, &k, 4);
        }
        pos += 8 + 8 * n;
    }
    ASSERT_NE(forged, original);
    ASSERT_TRUE(write_file_atomic(cached, forged).ok());
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--", "echo", "ran"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "ran\n");
    EXPECT_EQ(read_file(cached).value(), original);
}

// --seccomp reads a file the user names as --env-file does: a regular file of at most 2 MiB
// (it was read whole, whatever it was: /dev/zero for ever).
TEST_F(Hardening, ASeccompProfileIsARegularFileOfBoundedSize) {
    const std::string big = dir / "big.json";
    ASSERT_TRUE(write_file_atomic(big, std::string(3u << 20, ' ')).ok());
    for (const std::string& path : {std::string("/dev/null"), big}) {
        auto r = run_lxbox(root, {"launch", "--rm", "--seccomp", path, "--", "true"});
        EXPECT_EQ(r.exit_code, 125);
        EXPECT_TRUE(r.err.starts_with("lxbox: --seccomp " + path + ": ")) << r.err;
        EXPECT_NE(r.err.find(path == big ? "larger than" : "not a regular file"), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

TEST_F(Hardening, ProcAndSysPathsAreMaskedOrReadOnly) {
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--", "sh", "-c",
                              "cat /proc/kcore 2>/dev/null | wc -c; cat /proc/timer_list | wc -c; "
                              "ls /sys/firmware | wc -l; "
                              "echo x 2>/dev/null > /proc/sys/kernel/domainname || echo ro; "
                              "echo h 2>/dev/null > /proc/sysrq-trigger || echo ro"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "0\n0\n0\nro\nro\n");
    auto p = run_lxbox(root, {"launch", "--rm", "-T", "--privileged", "--", "sh", "-c",
                              "[ $(cat /proc/timer_list | wc -c) -gt 0 ] && echo visible"});
    EXPECT_EQ(p.out, "visible\n");
}

TEST_F(Hardening, InitIsOutOfReachOfTheContainer) {
    // init is lxbox's image: its /proc entries are root-only-without-ptrace (not dumpable), so
    // the host binary cannot be opened through /proc/1/exe, nor its memory read.
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--", "sh", "-c",
                              "cat /proc/1/exe >/dev/null 2>&1 || echo exe-denied; "
                              "cat /proc/1/environ >/dev/null 2>&1 || echo environ-denied; "
                              "echo x 2>/dev/null >>/proc/1/exe || echo exe-not-writable; "
                              "cat /proc/self/environ >/dev/null && echo own-ok"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "exe-denied\nenviron-denied\nexe-not-writable\nown-ok\n");
}

TEST_F(Hardening, AnImageSymlinkCannotSteerAMountIntoProc) {
    // /etc/resolv.conf planted as a link to a kernel knob: lxbox's resolv.conf would be mounted
    // over /proc/sys/kernel/hostname (and a link to a masked path would lift the mask). Mount
    // targets are resolved inside the root, and /proc is refused.
    const std::string tar = dir / "evil.tar";
    write_tarball(tar, {dir_entry("etc"), dir_entry("proc"), dir_entry("sys"), dir_entry("dev"),
                        symlink_entry("etc/resolv.conf", "/proc/sys/kernel/hostname")});
    ASSERT_EQ(run_lxbox(root, {"import", "evil", tar}).exit_code, 0);
    auto r = run_lxbox(root, {"launch", "evil", "--rm", "--", "/bin/true"});
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_NE(r.err.find("mount target /etc/resolv.conf is in /proc: refused"), std::string::npos) << r.err;
}

// lxbox mounts its own /dev, /proc and /sys over whatever the image has there. An image with a
// symlink in their place (/dev -> /proc) had lxbox's /dev tmpfs follow it and cover /proc,
// and every mask was then skipped as absent. Those mounts never follow a symlink: the launch
// is refused, and nothing is mounted anywhere.
TEST_F(Hardening, SystemMountsNeverFollowASymlinkInTheImage) {
    const std::string mounts = read_file("/proc/self/mountinfo").value();
    const struct {
        const char *name, *change, *error;
    } cases[] = {
        {"devlink", "rm -r dev && ln -s /proc dev",
         "lxbox: launch devlink: mount tmpfs on /dev: it is a symlink in the container's root: refused\n"},
        {"proclink", "rm -r proc && ln -s dev proc",
         "lxbox: launch proclink: mount proc on /proc: it is a symlink in the container's root: refused\n"},
        {"syslink", "rm -r sys && ln -s proc sys",
         "lxbox: launch syslink: mount sysfs on /sys: it is a symlink in the container's root: refused\n"},
    };
    for (const auto& c : cases) {
        ASSERT_EQ(run_lxbox(root, {"import", c.name, busybox_tarball()}).exit_code, 0);
        ASSERT_EQ(run({"sh", "-c", "cd " + root + "/images/" + c.name + "/rootfs && " + c.change}).exit_code, 0);
        auto r = run_lxbox(root, {"launch", c.name, "--rm", "-T", "--", "sh", "-c", "cat /proc/kcore | wc -c"});
        EXPECT_EQ(r.exit_code, 125) << c.name << ": " << r.out;
        EXPECT_EQ(r.err, c.error);
    }
    EXPECT_EQ(read_file("/proc/self/mountinfo").value(), mounts);
}

// A -v target below a symlink of the image is resolved inside the container's root: the bind
// lands in the container (never on the host path the link names), never in /proc, and the
// masks hold.
TEST_F(Hardening, BindTargetsBelowAnImageSymlinkStayInTheContainer) {
    const std::string outside = dir / "outside", source = dir / "source";
    ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(source.c_str(), 0755), 0);
    { std::ofstream(source + "/from-host") << "x"; }
    ASSERT_EQ(run_lxbox(root, {"import", "vlink", busybox_tarball()}).exit_code, 0);
    // The link names a path that exists both in the image and on the host.
    ASSERT_EQ(run({"sh", "-c", "cd " + root + "/images/vlink/rootfs && mkdir -p ./" + outside + " && ln -s " + outside +
                                   " mnt && ln -s ../../../../../../../../proc/sys up"}).exit_code, 0);
    const std::string mounts = read_file("/proc/self/mountinfo").value();
    auto r = run_lxbox(root, {"launch", "vlink", "--rm", "-T", "-v", source + ":/mnt/x", "--", "sh", "-c",
                              "ls " + outside + "/x; cat /proc/kcore | wc -c; ls /sys/firmware | wc -l"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "from-host\n0\n0\n");
    EXPECT_NE(::access((outside + "/x").c_str(), F_OK), 0);
    auto proc = run_lxbox(root, {"launch", "vlink", "--rm", "-T", "-v", source + ":/up/kernel", "--", "true"});
    EXPECT_EQ(proc.exit_code, 125);
    EXPECT_EQ(proc.err, "lxbox: launch vlink: mount target /up/kernel is in /proc: refused\n");
    EXPECT_EQ(read_file("/proc/self/mountinfo").value(), mounts);
}

// The container's PID 1 shows no host command line (-v's host paths, --root): its argv and name
// are "lxbox-init", as runc's init shows "runc init". Likewise for a process exec'd in.
TEST_F(Hardening, InitShowsANeutralCommandLine) {
    const std::string secret = dir / "host-secret-path";
    ASSERT_EQ(::mkdir(secret.c_str(), 0755), 0);
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "-v", secret + ":/data", "--", "sh", "-c",
                              "tr '\\0' '\\n' </proc/1/cmdline; cat /proc/1/comm"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "lxbox-init\nlxbox-init\n");
}

TEST_F(Hardening, ExecIsHardenedToo) {
    ASSERT_EQ(run_lxbox(root, {"launch", "--rm", "--", "true"}).exit_code, 0);
    // A long-running container, then exec into it: the joined process has the same limits.
    auto bg = run({"sh", "-c", std::string(LXBOX_BINARY) + " --root " + root +
                                   " launch --name svc -T -- sleep 30 >/dev/null 2>&1 & echo started"});
    ASSERT_EQ(bg.out, "started\n");
    std::string out;
    for (int i = 0; i < 200 && out.empty(); ++i) {
        auto r = run_lxbox(root, {"exec", "svc", "-T", "--", "sh", "-c",
                                  "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | cut -f2"});
        if (r.exit_code == 0) out = r.out;
        else ::usleep(20000);
    }
    EXPECT_EQ(out, "00000000a80405fb\n1\n2\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "-f", "svc"}).exit_code, 0);
}

// CAP_MKNOD is in docker's set, so the device cgroup is what keeps a container from making a
// node for a host device and opening it (here /dev/loop-control, 10:237, which root can open on
// this host).
TEST_F(Hardening, DeviceNodesBeyondTheSafeSetCannotBeOpened) {
    const std::string script =
        "mknod /tmp/lc c 10 237 && echo made; (exec 3</tmp/lc) 2>/dev/null && echo opened;"
        "echo x >/dev/null && head -c 1 /dev/urandom | wc -c";
    auto r = run_lxbox(root, {"launch", "--rm", "-T", "--", "sh", "-c", script});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "made\n1\n");
    auto p = run_lxbox(root, {"launch", "--rm", "-T", "--privileged", "--", "sh", "-c", script});
    EXPECT_EQ(p.out, "made\nopened\n1\n");  // --privileged: all devices, as docker's

    // A process that joins the container later is under the same rules.
    auto bg = run({"sh", "-c", std::string(LXBOX_BINARY) + " --root " + root +
                                   " launch --name devs -T -- sleep 30 >/dev/null 2>&1 & echo started"});
    ASSERT_EQ(bg.out, "started\n");
    std::string out;
    for (int i = 0; i < 200 && out.empty(); ++i) {
        auto e = run_lxbox(root, {"exec", "devs", "-T", "--", "sh", "-c", script});
        if (e.exit_code == 0) out = e.out;
        else ::usleep(20000);
    }
    EXPECT_EQ(out, "made\n1\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "-f", "devs"}).exit_code, 0);
}

TEST_F(Hardening, ExecInheritsTheContainersSettingsUnlessGivenItsOwn) {
    ASSERT_EQ(run_lxbox(root, {"launch", "--rm", "--", "true"}).exit_code, 0);
    auto bg = run({"sh", "-c", std::string(LXBOX_BINARY) + " --root " + root +
                                   " launch --name priv --privileged -T -- sleep 30 >/dev/null 2>&1 & echo started"});
    ASSERT_EQ(bg.out, "started\n");
    const std::string status = "grep -E '^(CapEff|Seccomp):' /proc/self/status | cut -f2";
    std::string out;
    for (int i = 0; i < 200 && out.empty(); ++i) {
        auto r = run_lxbox(root, {"exec", "priv", "-T", "--", "sh", "-c", status});
        if (r.exit_code == 0) out = r.out;
        else ::usleep(20000);
    }
    // As docker exec into a --privileged container: every capability this host's root has (root
    // here lacks CAP_SYS_RESOURCE), and no filter.
    auto host = run({"sh", "-c", "grep '^CapEff:' /proc/self/status | cut -f2"}).out;
    EXPECT_EQ(out, host + "0\n");
    auto own = run_lxbox(root, {"exec", "priv", "-T", "--cap-drop", "ALL", "--", "sh", "-c", status});
    EXPECT_EQ(own.out, "0000000000000000\n2\n");
    EXPECT_EQ(run_lxbox(root, {"rm", "-f", "priv"}).exit_code, 0);
}

}  // namespace
}  // namespace lxbox::test
